package io.inferq.workers.chips;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;

/** Reads a JSON catalogue: an object whose {@code arrayField} lists entries bound to records. */
final class CatalogueResource {
    private static final JsonMapper MAPPER = JsonMapper.builder()
            .enable(MapperFeature.ACCEPT_CASE_INSENSITIVE_ENUMS)
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
            .build();

    private CatalogueResource() {
    }

    static InputStream open(String resource) {
        InputStream in = CatalogueResource.class.getResourceAsStream(resource);
        if (in == null) {
            throw new IllegalStateException("catalogue resource " + resource + " is missing from the classpath");
        }
        return in;
    }

    /**
     * @throws IllegalArgumentException naming the source and the entry when the JSON is malformed or an entry
     *                                  is invalid
     */
    static <T> List<T> read(InputStream in, String sourceName, String arrayField, Class<T> type) {
        JsonNode root;
        try (in) {
            root = MAPPER.readTree(in);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(sourceName + ": not valid JSON: " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + sourceName, e);
        }
        JsonNode array = root == null ? null : root.get(arrayField);
        if (array == null || !array.isArray()) {
            throw new IllegalArgumentException(sourceName + ": expected an array field '" + arrayField + "'");
        }
        List<T> entries = new ArrayList<>();
        for (int i = 0; i < array.size(); i++) {
            try {
                entries.add(MAPPER.treeToValue(array.get(i), type));
            } catch (JsonProcessingException e) {
                Throwable cause = e.getCause() instanceof IllegalArgumentException ? e.getCause() : e;
                String why = cause == e ? e.getOriginalMessage() : cause.getMessage();
                throw new IllegalArgumentException(sourceName + ": " + arrayField + "[" + i + "]: " + why, e);
            }
        }
        return entries;
    }
}
