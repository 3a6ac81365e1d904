package io.inferq.workers.chips;

import java.io.InputStream;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The accelerator kinds a pool can be built from, looked up by id ({@code h800}, {@code ascend-910b}, ...).
 * Immutable and thread-safe.
 */
public final class ChipCatalogue {
    static final String RESOURCE = "/io/inferq/workers/chips/chips.json";

    private final Map<String, ChipProfile> chips;

    private ChipCatalogue(Collection<ChipProfile> profiles) {
        Map<String, ChipProfile> byId = new LinkedHashMap<>();
        for (ChipProfile profile : profiles) {
            if (byId.putIfAbsent(profile.id(), profile) != null) {
                throw new IllegalArgumentException("chip id '" + profile.id() + "' appears twice in the catalogue");
            }
        }
        this.chips = Collections.unmodifiableMap(byId);
    }

    /** @return the catalogue shipped with inferq (every chip of {@code shared/chips.md}) */
    public static ChipCatalogue builtIn() {
        return read(CatalogueResource.open(RESOURCE), RESOURCE);
    }

    /**
     * Reads a catalogue in the format of the built-in one ({@code {"chips": [ ... ]}}). Closes the stream.
     *
     * @throws IllegalArgumentException naming the entry when the JSON or an entry is invalid
     */
    public static ChipCatalogue read(InputStream json, String sourceName) {
        return new ChipCatalogue(CatalogueResource.read(json, sourceName, "chips", ChipProfile.class));
    }

    /** @return a catalogue of the given profiles, for tests and custom fleets */
    public static ChipCatalogue of(Collection<ChipProfile> profiles) {
        return new ChipCatalogue(profiles);
    }

    /**
     * @throws IllegalArgumentException for an unknown id, listing the known ones
     */
    public ChipProfile get(String id) {
        ChipProfile profile = chips.get(id);
        if (profile == null) {
            throw new IllegalArgumentException("unknown chip '" + id + "'; known chips: " + String.join(", ", chips.keySet()));
        }
        return profile;
    }

    public Optional<ChipProfile> find(String id) {
        return Optional.ofNullable(chips.get(id));
    }

    /** @return every profile, in catalogue order */
    public List<ChipProfile> all() {
        return List.copyOf(chips.values());
    }
}
