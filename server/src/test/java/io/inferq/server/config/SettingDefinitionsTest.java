package io.inferq.server.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import io.inferq.dispatcher.RoutingPolicies;
import io.inferq.server.config.SettingDefinitions.Setting;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** Holds {@link SettingDefinitions} to the defaults file, to the validation and to the README's configuration table. */
class SettingDefinitionsTest {

    @Test
    void theDefaultsFileHoldsExactlyTheDeclaredSettingsWithTheirDefaults() {
        Map<String, String> leaves = new LinkedHashMap<>();
        flatten(ConfigLoader.defaults(), "", leaves);
        leaves.keySet().removeIf(k -> k.equals("tenants") || k.equals("pools") || k.startsWith("pools.") || k.startsWith("tenants."));
        Map<String, String> declared = new LinkedHashMap<>();
        SettingDefinitions.all().forEach(s -> declared.put(s.key(), s.defaultValue()));
        assertThat(leaves).containsExactlyInAnyOrderEntriesOf(declared);
    }

    @Test
    void theLoaderRejectsAValueJustOutsideEachDeclaredBoundNamingTheSetting() {
        int checked = 0;
        for (Setting s : SettingDefinitions.all()) {
            SettingDefinitions.Bounds b = s.bounds();
            List<String> outside = new ArrayList<>();
            if (!b.choices().isEmpty()) {
                outside.add("no-such-choice");
            }
            if (b.min() != null) {
                outside.add(number(s, b.min() - 1));
            }
            if (b.max() != null) {
                outside.add(number(s, b.max() + 1));
            }
            for (String value : outside) {
                assertThatThrownBy(() -> ConfigLoader.load(null, Map.of(envName(s.key()), value)))
                        .as(s.key() + "=" + value).isInstanceOf(ConfigException.class).hasMessageContaining(s.key());
                checked++;
            }
            if (!outside.isEmpty() && s.defaultValue() != null) {
                ConfigLoader.load(null, Map.of(envName(s.key()), s.defaultValue())); // the default itself is inside
            }
        }
        assertThat(checked).isGreaterThan(40);
    }

    @Test
    void everyDispatcherSettingStaysWithinTheDispatchersOwnBounds() {
        Map<String, io.inferq.dispatcher.DispatchConfig.Bound> own = Map.of(
                "dispatcher.interactive-max-wait-ms", io.inferq.dispatcher.DispatchConfig.Bound.INTERACTIVE_MAX_WAIT_MS,
                "dispatcher.batch-max-wait-ms", io.inferq.dispatcher.DispatchConfig.Bound.BATCH_MAX_WAIT_MS,
                "dispatcher.batch-promotion-after-ms", io.inferq.dispatcher.DispatchConfig.Bound.BATCH_PROMOTION_AFTER_MS,
                "dispatcher.max-queued-jobs", io.inferq.dispatcher.DispatchConfig.Bound.MAX_QUEUED_JOBS,
                "dispatcher.tenant-queued-tokens", io.inferq.dispatcher.DispatchConfig.Bound.DEFAULT_TENANT_QUEUED_TOKENS,
                "dispatcher.max-in-flight-batches-per-instance",
                io.inferq.dispatcher.DispatchConfig.Bound.MAX_IN_FLIGHT_BATCHES_PER_INSTANCE,
                "dispatcher.prefix-overlap-weight", io.inferq.dispatcher.DispatchConfig.Bound.PREFIX_OVERLAP_WEIGHT,
                "dispatcher.headroom-credits", io.inferq.dispatcher.DispatchConfig.Bound.HEADROOM_CREDITS,
                "dispatcher.headroom-window-ms", io.inferq.dispatcher.DispatchConfig.Bound.HEADROOM_WINDOW_MS,
                "dispatcher.headroom-idle-instances", io.inferq.dispatcher.DispatchConfig.Bound.HEADROOM_IDLE_INSTANCES);
        own.forEach((key, bound) -> {
            SettingDefinitions.Bounds b = SettingDefinitions.get(key).bounds();
            // a value the server accepts never fails in DispatchConfig's constructor
            assertThat(b.min()).as(key + " min").isNotNull().isGreaterThanOrEqualTo(bound.min());
            assertThat(b.max() == null ? Double.POSITIVE_INFINITY : b.max()).as(key + " max").isLessThanOrEqualTo(bound.max());
        });
    }

    @Test
    void everyDeclaredPolicyIsOneTheDispatcherKnows() {
        for (String name : SettingDefinitions.get("dispatcher.policy").bounds().choices()) {
            assertThat(RoutingPolicies.byName(name, 1)).as(name).isNotNull(); // as the server's wiring looks it up
        }
    }

    @Test
    void theReadmeTableDocumentsEverySettingWithItsDefault() throws IOException {
        Map<String, String> documented = readmeTable();
        for (Setting s : SettingDefinitions.all()) {
            assertThat(documented).as("README configuration table row for " + s.key()).containsKey(s.key());
            String cell = documented.get(s.key());
            if (s.defaultValue() != null) { // no default: the README says what happens instead
                assertThat(cell).as("default of " + s.key() + " in the README").isEqualTo(s.defaultValue());
            }
        }
    }

    /** key → its default as the README's table states it (the backticked value in the same position; else the cell). */
    private static Map<String, String> readmeTable() throws IOException {
        Path readme = Path.of("..", "README.md");
        List<String> lines = Files.readAllLines(readme);
        int start = lines.indexOf("| setting | default | meaning |");
        assertThat(start).as("the configuration table in README.md").isGreaterThan(0);
        Map<String, String> out = new HashMap<>();
        Pattern tick = Pattern.compile("`([^`]*)`");
        for (int i = start + 2; i < lines.size() && lines.get(i).startsWith("|"); i++) {
            String[] cols = lines.get(i).split("(?<!\\\\)\\|");
            if (cols.length < 3) {
                continue;
            }
            List<String> keys = ticks(tick.matcher(cols[1]));
            List<String> defaults = ticks(tick.matcher(cols[2]));
            String prefix = null;
            for (int k = 0; k < keys.size(); k++) {
                String key = keys.get(k);
                if (prefix != null && !key.contains(".") && SettingDefinitions.get(key) == null) {
                    key = prefix + key; // `dispatcher.interactive-max-wait-ms`, `batch-max-wait-ms`
                }
                if (k == 0 && key.contains(".")) {
                    prefix = key.substring(0, key.lastIndexOf('.') + 1);
                }
                out.put(key, defaults.size() == keys.size() ? defaults.get(k) : cols[2].trim());
            }
        }
        return out;
    }

    private static List<String> ticks(Matcher m) {
        List<String> out = new ArrayList<>();
        while (m.find()) {
            out.add(m.group(1));
        }
        return out;
    }

    private static String number(Setting s, double v) {
        return s.type() == SettingDefinitions.Type.DOUBLE ? String.valueOf(v) : String.valueOf((long) v);
    }

    private static String envName(String key) {
        return "INFERQ_" + key.toUpperCase(Locale.ROOT).replace('.', '_').replace('-', '_');
    }

    private static void flatten(JsonNode node, String path, Map<String, String> out) {
        if (node.isObject() && !(node.isEmpty() && !path.isEmpty() && path.endsWith("client"))) {
            for (Map.Entry<String, JsonNode> e : node.properties()) {
                flatten(e.getValue(), path.isEmpty() ? e.getKey() : path + "." + e.getKey(), out);
            }
            return;
        }
        if (node.isNull()) {
            out.put(path, null);
        } else if (node.isArray()) {
            List<String> items = new ArrayList<>();
            node.forEach(n -> items.add(n.isValueNode() ? n.asText() : "{…}"));
            out.put(path, "[" + String.join(", ", items) + "]");
        } else if (node.isObject()) {
            out.put(path, "{}");
        } else {
            out.put(path, node.asText());
        }
    }
}
