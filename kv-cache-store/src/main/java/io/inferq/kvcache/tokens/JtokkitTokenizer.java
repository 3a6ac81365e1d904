package io.inferq.kvcache.tokens;

import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingType;
import java.util.Objects;
import java.util.function.Supplier;

/** {@link PromptTokenizer} on a JTokkit encoding. JTokkit encodings are thread-safe. */
final class JtokkitTokenizer implements PromptTokenizer {

    /** Lazily loaded: parsing the o200k vocabulary costs about a second and tens of MiB. */
    static final Supplier<PromptTokenizer> O200K_BASE = new Supplier<>() {
        private volatile PromptTokenizer instance;

        @Override
        public PromptTokenizer get() {
            PromptTokenizer local = instance;
            if (local == null) {
                synchronized (this) {
                    local = instance;
                    if (local == null) {
                        local = new JtokkitTokenizer(
                                Encodings.newLazyEncodingRegistry().getEncoding(EncodingType.O200K_BASE));
                        instance = local;
                    }
                }
            }
            return local;
        }
    };

    private final Encoding encoding;
    private final String name;

    JtokkitTokenizer(Encoding encoding) {
        this.encoding = Objects.requireNonNull(encoding, "encoding must not be null");
        this.name = "tiktoken:" + encoding.getName();
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public int[] encode(String text) {
        Objects.requireNonNull(text, "text must not be null");
        // encodeOrdinary: text that looks like a special token is not turned into one (no injection).
        return encoding.encodeOrdinary(text).toArray();
    }
}
