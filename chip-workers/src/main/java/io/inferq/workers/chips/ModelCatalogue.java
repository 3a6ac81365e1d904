package io.inferq.workers.chips;

import java.io.InputStream;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The models a pool can serve, looked up by served name ({@code deepseek-r1}, ...). Immutable and
 * thread-safe.
 */
public final class ModelCatalogue {
    static final String RESOURCE = "/io/inferq/workers/chips/models.json";

    private final Map<String, ModelProfile> models;

    private ModelCatalogue(Collection<ModelProfile> profiles) {
        Map<String, ModelProfile> byName = new LinkedHashMap<>();
        for (ModelProfile profile : profiles) {
            if (byName.putIfAbsent(profile.name(), profile) != null) {
                throw new IllegalArgumentException("model '" + profile.name() + "' appears twice in the catalogue");
            }
        }
        this.models = Collections.unmodifiableMap(byName);
    }

    /** @return DeepSeek-R1, DeepSeek-V3, DeepSeek-V2-Lite and the dense qwen2-7b */
    public static ModelCatalogue builtIn() {
        return read(CatalogueResource.open(RESOURCE), RESOURCE);
    }

    /** Reads {@code {"models": [ ... ]}}. Closes the stream. */
    public static ModelCatalogue read(InputStream json, String sourceName) {
        return new ModelCatalogue(CatalogueResource.read(json, sourceName, "models", ModelProfile.class));
    }

    public static ModelCatalogue of(Collection<ModelProfile> profiles) {
        return new ModelCatalogue(profiles);
    }

    /**
     * @throws IllegalArgumentException for an unknown name, listing the known ones
     */
    public ModelProfile get(String name) {
        ModelProfile profile = models.get(name);
        if (profile == null) {
            throw new IllegalArgumentException("unknown model '" + name + "'; known models: "
                    + String.join(", ", models.keySet()));
        }
        return profile;
    }

    public Optional<ModelProfile> find(String name) {
        return Optional.ofNullable(models.get(name));
    }

    /** @return every profile, in catalogue order */
    public List<ModelProfile> all() {
        return List.copyOf(models.values());
    }
}
