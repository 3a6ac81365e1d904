package io.inferq.broker.serde;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.util.List;
import org.apache.avro.Schema;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.avro.message.SchemaStore;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serializer;

/**
 * Kafka serde for inferq's Avro records in Avro <em>single-object encoding</em>: a two-byte marker
 * {@code C3 01}, the 8-byte CRC-64-AVRO fingerprint of the writer schema, then the binary body.
 *
 * <p>Why single-object encoding and not the Confluent schema-registry wire format: inferq runs with no
 * registry (embedded default) and the contract is a handful of published {@code .avsc} files. The
 * fingerprint identifies the writer schema; the decoder resolves every schema version it knows
 * (the current one plus those passed as {@code olderWriterSchemas}) into the reader schema with
 * Avro's schema resolution, so records written with an older schema still decode.
 *
 * <p>Thread-safe: encoder and decoder are thread-safe per Avro's javadoc.
 *
 * @param <T> a generated Avro class
 */
public final class AvroSerde<T extends SpecificRecord> implements Serde<T> {
    private final BinaryMessageEncoder<T> encoder;
    private final BinaryMessageDecoder<T> decoder;

    public AvroSerde(Class<T> type) {
        this(type, List.of());
    }

    /**
     * @param olderWriterSchemas earlier versions of the schema that producers may still write
     */
    public AvroSerde(Class<T> type, List<Schema> olderWriterSchemas) {
        SpecificData model = SpecificData.getForClass(type);
        Schema schema = model.getSchema(type);
        SchemaStore.Cache store = new SchemaStore.Cache();
        olderWriterSchemas.forEach(store::addSchema);
        this.encoder = new BinaryMessageEncoder<>(model, schema);
        this.decoder = new BinaryMessageDecoder<>(model, schema, store);
        olderWriterSchemas.forEach(decoder::addSchema);
    }

    public byte[] encode(T value) {
        try {
            ByteBuffer buf = encoder.encode(value);
            byte[] out = new byte[buf.remaining()];
            buf.get(out);
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot encode " + value.getSchema().getFullName(), e);
        }
    }

    /**
     * @throws AvroDecodeException when the bytes are not single-object Avro of a known schema version
     */
    public T decode(byte[] bytes) {
        try {
            return decoder.decode(bytes);
        } catch (IOException | RuntimeException e) {
            throw new AvroDecodeException("not a valid Avro single-object record: " + e.getMessage(), e);
        }
    }

    @Override
    public Serializer<T> serializer() {
        return (topic, data) -> data == null ? null : encode(data);
    }

    @Override
    public Deserializer<T> deserializer() {
        return (topic, data) -> data == null ? null : decode(data);
    }

    /** Bytes that do not decode as a known schema version: a bad record, never retriable. */
    public static final class AvroDecodeException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        public AvroDecodeException(String message, Throwable cause) {
            super(message, cause);
        }
    }
}
