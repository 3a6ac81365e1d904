package io.inferq.server;

import io.inferq.server.config.ConfigException;
import io.inferq.server.config.ConfigLoader;
import io.inferq.server.config.InferqConfig;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import picocli.CommandLine.Option;

/**
 * The command line's part of the configuration, shared by every command: each flag given becomes the
 * {@code INFERQ_*} environment override of its setting (so a flag and its variable mean the same), on top of the
 * process environment; the file is {@code --config}, else {@code INFERQ_CONFIG}. A configuration error ends the command
 * with exit code {@value #CONFIG_ERROR_EXIT} and one line on standard error. Not thread-safe: one per command call.
 */
final class FlagOverrides {

    /**
     * The flags every process command ({@code serve}, {@code broker}) takes, mixed into each with picocli's
     * {@code @Mixin}: the configuration file, the data directory and the embedded broker's and member's ports.
     */
    static final class Common {
        @Option(names = "--config", description = "YAML configuration file (default: built-in defaults; also INFERQ_CONFIG)")
        Path configFile;
        @Option(names = "--data-dir", description = "data directory (the embedded broker's log is <data-dir>/kafka)")
        String dataDir;
        @Option(names = "--kafka-port", description = "port of the embedded Kafka broker (default 9092; kafka.port)")
        Integer kafkaPort;
        @Option(names = "--hazelcast-port", description = "port of the embedded Hazelcast member (default 5701; hazelcast.port)")
        Integer hazelcastPort;

        /** These flags, as environment overrides on top of {@code env}. */
        FlagOverrides overrides(Map<String, String> env) {
            return new FlagOverrides(configFile, env).put("INFERQ_DATA_DIR", dataDir).put("INFERQ_KAFKA_PORT", kafkaPort)
                    .put("INFERQ_HAZELCAST_PORT", hazelcastPort);
        }
    }

    /** Exit code of a command whose configuration is invalid. */
    static final int CONFIG_ERROR_EXIT = 2;

    private final Path configFlag;
    private final Map<String, String> env;

    /** Overrides on top of this process's environment. */
    FlagOverrides(Path configFlag) {
        this(configFlag, System.getenv());
    }

    /** Overrides on top of {@code baseEnv} (not changed). */
    FlagOverrides(Path configFlag, Map<String, String> baseEnv) {
        this.configFlag = configFlag;
        this.env = new HashMap<>(baseEnv);
    }

    /** Sets environment override {@code name} to {@code value} if the flag was given (non-null). */
    FlagOverrides put(String name, Object value) {
        if (value != null) {
            env.put(name, String.valueOf(value));
        }
        return this;
    }

    /** Sets {@code name} to the comma-joined {@code values} if the flag was given (non-null). */
    FlagOverrides putList(String name, String[] values) {
        if (values != null) {
            env.put(name, String.join(",", values));
        }
        return this;
    }

    /** The configuration file: {@code --config}, else {@code INFERQ_CONFIG}, else none (built-in defaults). */
    Path file() {
        return configFlag != null ? configFlag : env.get("INFERQ_CONFIG") == null ? null : Path.of(env.get("INFERQ_CONFIG"));
    }

    /** The environment with the overrides applied. */
    Map<String, String> env() {
        return env;
    }

    /**
     * Loads the configuration from {@link #file()} and {@link #env()}.
     *
     * @throws ConfigException if it is invalid (report it with {@link #configError})
     */
    InferqConfig load() {
        return ConfigLoader.load(file(), env);
    }

    /** Reports a configuration error of {@code command} on standard error; returns {@value #CONFIG_ERROR_EXIT}. */
    static int configError(String command, ConfigException e) {
        return configError(command, e, System.err);
    }

    static int configError(String command, ConfigException e, PrintStream err) {
        err.println(command + ": configuration error: " + e.getMessage());
        return CONFIG_ERROR_EXIT;
    }
}
