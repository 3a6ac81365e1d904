package io.inferq.server.config;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Loads {@link InferqConfig}: the bundled defaults, then the YAML file if given (keys it names
 * replace the defaults; a list replaces the whole default list), then environment variables.
 *
 * <p>Environment: {@code INFERQ_} followed by the setting's path in upper case with {@code _} for
 * both {@code .} and {@code -}, e.g. {@code INFERQ_HTTP_PORT=9090},
 * {@code INFERQ_KAFKA_BOOTSTRAP_SERVERS=broker:9092}, {@code INFERQ_ROLES=ingress,dispatcher}.
 * Lists take comma-separated values. A variable that names no setting is an error.
 *
 * <p>Every problem is a {@link ConfigException} naming the setting.
 */
public final class ConfigLoader {
    private static final ObjectMapper YAML = com.fasterxml.jackson.databind.json.JsonMapper.builder(new YAMLFactory())
            .propertyNamingStrategy(PropertyNamingStrategies.KEBAB_CASE)
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
            .enable(DeserializationFeature.ACCEPT_SINGLE_VALUE_AS_ARRAY)
            .enable(com.fasterxml.jackson.databind.MapperFeature.ACCEPT_CASE_INSENSITIVE_ENUMS)
            .build();

    private ConfigLoader() {
    }

    /**
     * @param file optional YAML file
     * @param env  environment (System.getenv() in production)
     */
    public static InferqConfig load(Path file, Map<String, String> env) {
        ObjectNode tree = defaults();
        if (file != null) {
            if (!Files.isRegularFile(file)) {
                throw new ConfigException("config file " + file + " does not exist or is not a file");
            }
            try (InputStream in = Files.newInputStream(file)) {
                JsonNode user = YAML.readTree(in);
                if (user != null && !user.isNull() && !user.isMissingNode()) {
                    if (!user.isObject()) {
                        throw new ConfigException("config file " + file + " must hold a YAML mapping at the top");
                    }
                    merge(tree, (ObjectNode) user, "");
                }
            } catch (IOException e) {
                throw new ConfigException("config file " + file + " is not valid YAML: " + e.getMessage(), e);
            }
        }
        applyEnvironment(tree, env);
        return bind(tree);
    }

    /** Binds a complete tree (for tests and tools). */
    public static InferqConfig bind(ObjectNode tree) {
        JsonNode privateTargets = tree.at("/webhooks/allow-private-targets");
        if (privateTargets.isBoolean() || privateTargets.isNumber()) {
            throw new ConfigException("webhooks.allow-private-targets is a list of host names, IP addresses or CIDRs that "
                    + "webhooks may call although they are private, e.g. [127.0.0.1, 10.20.0.0/16, hooks.internal]; it is "
                    + "not a switch, was " + privateTargets);
        }
        try {
            return YAML.treeToValue(tree, InferqConfig.class);
        } catch (JsonMappingException e) {
            Throwable root = e;
            while (root.getCause() != null && root.getCause() != root) {
                root = root.getCause();
            }
            if (root instanceof ConfigException ce) {
                throw ce;
            }
            throw new ConfigException("setting '" + path(e) + "': " + e.getOriginalMessage().split("\n")[0], e);
        } catch (IOException e) {
            throw new ConfigException("configuration could not be read: " + e.getMessage(), e);
        }
    }

    public static ObjectNode defaults() {
        try (InputStream in = ConfigLoader.class.getResourceAsStream("/inferq-defaults.yaml")) {
            return (ObjectNode) YAML.readTree(in);
        } catch (IOException | NullPointerException e) {
            throw new IllegalStateException("inferq-defaults.yaml is missing from the class path", e);
        }
    }

    private static String path(JsonMappingException e) {
        StringBuilder sb = new StringBuilder();
        for (JsonMappingException.Reference r : e.getPath()) {
            if (r.getFieldName() != null) {
                if (sb.length() > 0) {
                    sb.append('.');
                }
                sb.append(r.getFieldName());
            } else if (r.getIndex() >= 0) {
                sb.append('[').append(r.getIndex()).append(']');
            }
        }
        return sb.toString();
    }

    private static void merge(ObjectNode base, ObjectNode over, String prefix) {
        for (Map.Entry<String, JsonNode> e : over.properties()) {
            String key = e.getKey();
            String path = prefix.isEmpty() ? key : prefix + "." + key;
            if (!base.has(key)) {
                throw new ConfigException("unknown setting '" + path + "'");
            }
            JsonNode current = base.get(key);
            if (current instanceof ObjectNode co && e.getValue() instanceof ObjectNode eo && !key.equals("client")) {
                merge(co, eo, path);
            } else {
                base.set(key, e.getValue());
            }
        }
    }

    /**
     * Applies the {@code INFERQ_*} variables of {@code env} to {@code tree} (as {@link #load} does after the
     * file), for tools that build their own tree.
     *
     * @throws ConfigException if a variable names no setting
     */
    public static void applyEnvironment(ObjectNode tree, Map<String, String> env) {
        Map<String, String> sorted = new TreeMap<>(env);
        for (Map.Entry<String, String> e : sorted.entrySet()) {
            if (!e.getKey().startsWith("INFERQ_") || e.getKey().equals("INFERQ_CONFIG")) {
                continue;
            }
            String rest = e.getKey().substring("INFERQ_".length());
            if (!setByEnv(tree, rest, e.getValue())) {
                throw new ConfigException("environment variable " + e.getKey() + " names no setting");
            }
        }
    }

    private static boolean setByEnv(ObjectNode node, String rest, String value) {
        List<String> keys = new ArrayList<>();
        node.properties().forEach(en -> keys.add(en.getKey()));
        for (String key : keys) {
            String norm = key.toUpperCase(Locale.ROOT).replace('-', '_');
            if (rest.equals(norm)) {
                JsonNode current = node.get(key);
                if (current instanceof ArrayNode) {
                    ArrayNode arr = JsonNodeFactory.instance.arrayNode();
                    for (String part : value.split(",")) {
                        if (!part.isBlank()) {
                            arr.add(scalar(part.trim()));
                        }
                    }
                    node.set(key, arr);
                } else {
                    node.set(key, scalar(value));
                }
                return true;
            }
            if (rest.startsWith(norm + "_") && node.get(key) instanceof ObjectNode child
                    && setByEnv(child, rest.substring(norm.length() + 1), value)) {
                return true;
            }
        }
        return false;
    }

    private static JsonNode scalar(String v) {
        try {
            return YAML.readTree(v);
        } catch (IOException e) {
            return TextNode.valueOf(v);
        }
    }
}
