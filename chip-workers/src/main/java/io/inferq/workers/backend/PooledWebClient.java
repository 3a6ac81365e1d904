package io.inferq.workers.backend;

import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.WebClient;
import java.lang.reflect.InvocationTargetException;
import java.util.Map;

/**
 * Creates a {@link WebClient} from options given as JSON: each field names a setter of
 * {@code WebClientOptions} or {@code PoolOptions}.
 *
 * <p>Why reflection: naming {@code WebClientOptions}/{@code PoolOptions} in source makes javac warn that
 * their {@code @JsonGen} annotation class is missing, which {@code -Werror} turns into a build failure,
 * until {@code io.vertx:vertx-codegen-json} (scope provided) is on the compile class path. Once it is,
 * replace this with {@code WebClient.create(vertx, new WebClientOptions(json), new PoolOptions(json))}.
 */
final class PooledWebClient {
    private PooledWebClient() {
    }

    /** A default-constructed options object with a setter called per JSON field ({@code "x"} → {@code setX}). */
    private static Object configure(Class<?> type, JsonObject settings) throws ReflectiveOperationException {
        Object options = type.getConstructor().newInstance();
        for (Map.Entry<String, Object> entry : settings) {
            String setter = "set" + Character.toUpperCase(entry.getKey().charAt(0)) + entry.getKey().substring(1);
            Object value = entry.getValue();
            Class<?> parameter = value instanceof Integer ? int.class : value instanceof Boolean ? boolean.class
                    : value.getClass();
            type.getMethod(setter, parameter).invoke(options, value);
        }
        return options;
    }

    static WebClient create(Vertx vertx, JsonObject clientOptions, JsonObject poolOptions) {
        try {
            Class<?> clientOptionsType = Class.forName("io.vertx.ext.web.client.WebClientOptions");
            Class<?> poolOptionsType = Class.forName("io.vertx.core.http.PoolOptions");
            Object client = configure(clientOptionsType, clientOptions);
            Object pool = configure(poolOptionsType, poolOptions);
            return (WebClient) WebClient.class.getMethod("create", Vertx.class, clientOptionsType, poolOptionsType)
                    .invoke(null, vertx, client, pool);
        } catch (InvocationTargetException e) {
            throw new IllegalStateException("cannot create the HTTP client: " + e.getCause(), e.getCause());
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("Vert.x web client API changed: " + e, e);
        }
    }
}
