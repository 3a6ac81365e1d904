package io.inferq.workers.pool;

import io.inferq.workers.backend.OpenAiHttpSettings;
import java.util.Objects;

/** Which backend runs a pool's batches, and its settings. */
public sealed interface BackendSpec {

    /** @return the backend kind as written in configuration: {@code simulated} or {@code openai-http} */
    String kind();

    /** The roofline simulator; its only setting is the pool's time scale. */
    record Simulated() implements BackendSpec {
        @Override
        public String kind() {
            return "simulated";
        }
    }

    /** An OpenAI-compatible engine per instance (vLLM and forks, SGLang, MindIE). */
    record OpenAiHttp(OpenAiHttpSettings settings) implements BackendSpec {
        public OpenAiHttp {
            Objects.requireNonNull(settings, "backend settings must be set");
        }

        @Override
        public String kind() {
            return "openai-http";
        }
    }
}
