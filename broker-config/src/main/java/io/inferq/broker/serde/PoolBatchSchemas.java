package io.inferq.broker.serde;

import io.inferq.broker.avro.JobRequest;
import io.inferq.broker.avro.PoolBatch;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.List;
import org.apache.avro.Schema;

/**
 * The versions of {@code PoolBatch.avsc} a worker must still read during a rolling upgrade: a dispatcher of the earlier
 * version writes batches without {@code instance} and {@code engine_priority}, and a worker of this version reads them
 * with those fields at their defaults. Thread-safe (immutable).
 */
public final class PoolBatchSchemas {
    /** {@code PoolBatch} before {@code instance} and {@code engine_priority} (kept as a resource beside the classes). */
    public static final Schema V1 = parse("PoolBatch-v1.avsc");

    private PoolBatchSchemas() {
    }

    /** @return a serde that writes the current schema and reads it and every earlier version */
    public static AvroSerde<PoolBatch> serde() {
        return new AvroSerde<>(PoolBatch.class, List.of(V1));
    }

    private static Schema parse(String resource) {
        try (InputStream in = PoolBatch.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException("schema resource " + resource + " is missing");
            }
            // the earlier version names JobRequest (unchanged since) and defines PromptBlocks inline
            Schema.Parser parser = new Schema.Parser();
            addNamed(parser, JobRequest.getClassSchema());
            return parser.parse(in);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read schema resource " + resource, e);
        }
    }

    private static void addNamed(Schema.Parser parser, Schema s) {
        switch (s.getType()) {
            case RECORD, ENUM, FIXED -> {
                if (!parser.getTypes().containsKey(s.getFullName())) {
                    parser.addTypes(List.of(s));
                    if (s.getType() == Schema.Type.RECORD) {
                        s.getFields().forEach(f -> addNamed(parser, f.schema()));
                    }
                }
            }
            case UNION -> s.getTypes().forEach(t -> addNamed(parser, t));
            case ARRAY -> addNamed(parser, s.getElementType());
            case MAP -> addNamed(parser, s.getValueType());
            default -> {
            }
        }
    }
}
