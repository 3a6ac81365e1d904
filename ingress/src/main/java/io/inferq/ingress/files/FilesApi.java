package io.inferq.ingress.files;

import io.inferq.ingress.api.ApiError;
import io.inferq.ingress.api.HttpErrors;
import io.inferq.ingress.tenants.Tenant;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import java.io.InputStream;
import java.time.Clock;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The OpenAI Files API: {@code POST /v1/files} (multipart: {@code file}, {@code purpose=batch}, optional
 * {@code expires_after[anchor]=created_at} and {@code expires_after[seconds]}), {@code GET /v1/files},
 * {@code GET /v1/files/{id}}, {@code GET /v1/files/{id}/content}, {@code DELETE /v1/files/{id}}.
 *
 * <p>An upload is streamed: the request is read part by part into the {@link FileStore}'s chunks, pausing the HTTP
 * request while a chunk is written, so memory holds at most two chunks per upload whatever the file size (the
 * ingress's body handler is skipped for this route). A download is streamed chunk by chunk the same way, honouring
 * the response's write queue. Files belong to the caller's tenant; any other tenant gets 404.
 *
 * <p>Threading: handlers run on the event loop; store reads go through {@code executeBlocking}.
 */
public final class FilesApi {
    private static final Logger LOG = LoggerFactory.getLogger(FilesApi.class);
    /** Purposes an upload may name (batch input); {@code batch_output} files are made by batches only. */
    static final Set<String> UPLOAD_PURPOSES = Set.of("batch");
    public static final int MAX_LIST_LIMIT = 10_000;

    private final Vertx vertx;
    private final FileStore store;
    private final Function<RoutingContext, Tenant> authenticate;
    private final Clock clock;
    private final long maxFileBytes;
    private final long tenantMaxStoredBytes;
    private final long defaultExpirySeconds;

    /**
     * @param authenticate         answers 401 and returns null for a caller without a valid key
     * @param maxFileBytes         largest upload
     * @param tenantMaxStoredBytes the most a tenant may store; an upload past it answers 429
     * @param defaultExpirySeconds how long an uploaded file is kept when the upload names no expiry
     */
    public FilesApi(Vertx vertx, FileStore store, Function<RoutingContext, Tenant> authenticate, Clock clock, long maxFileBytes,
            long tenantMaxStoredBytes, long defaultExpirySeconds) {
        this.vertx = vertx;
        this.store = store;
        this.authenticate = authenticate;
        this.clock = clock;
        this.maxFileBytes = maxFileBytes;
        this.tenantMaxStoredBytes = tenantMaxStoredBytes;
        this.defaultExpirySeconds = defaultExpirySeconds;
    }

    /** Whether a request is an upload, whose body this API streams itself (the ingress's body handler must skip it). */
    public static boolean isStreamedUpload(HttpServerRequest request) {
        return request.method() == io.vertx.core.http.HttpMethod.POST && "/v1/files".equals(request.path());
    }

    public void mount(Router router) {
        router.post("/v1/files").handler(this::upload);
        router.get("/v1/files").handler(this::list);
        router.get("/v1/files/:id").handler(this::get);
        router.get("/v1/files/:id/content").handler(this::content);
        router.delete("/v1/files/:id").handler(this::delete);
    }

    private void upload(RoutingContext ctx) {
        HttpServerRequest req = ctx.request();
        Tenant tenant = authenticate.apply(ctx);
        if (tenant == null) {
            return;
        }
        String boundary = MultipartReader.boundaryOf(req.getHeader("Content-Type"));
        if (boundary == null) {
            HttpErrors.send(ctx, ApiError.invalid("invalid_content_type", "upload a file as multipart/form-data with the fields "
                    + "'file' and 'purpose'", null));
            return;
        }
        String length = req.getHeader("Content-Length");
        if (length != null && parseLong(length, 0) > maxFileBytes + 64 * 1024) {
            HttpErrors.send(ctx, tooLarge());
            return;
        }
        long stored = store.storedBytes(tenant.id());
        if (stored >= tenantMaxStoredBytes) {
            HttpErrors.send(ctx, storageLimit(tenant, stored));
            return;
        }
        Context context = vertx.getOrCreateContext();
        UploadState state = new UploadState();
        MultipartReader reader = new MultipartReader(boundary, new MultipartReader.Listener() {
            @Override
            public void partStart(String name, String filename) {
                state.part = name;
                if ("file".equals(name) && state.upload == null) {
                    state.filename = filename == null || filename.isBlank() ? "upload.jsonl" : filename;
                    state.upload = store.begin(null, tenant.id(), state.filename, "batch", null);
                    state.inFile = true;
                } else {
                    state.inFile = false;
                    state.field = new StringBuilder();
                }
            }

            @Override
            public void partData(byte[] data) {
                if (state.error != null) {
                    return;
                }
                if (!state.inFile) {
                    if (state.field.length() + data.length > 4096) {
                        state.error = ApiError.invalid("invalid_field", "the form field '" + state.part + "' is too long", state.part);
                        return;
                    }
                    state.field.append(new String(data, java.nio.charset.StandardCharsets.UTF_8));
                    return;
                }
                long bytes = state.upload.bytes() + data.length;
                if (bytes > maxFileBytes) {
                    state.error = tooLarge();
                    return;
                }
                if (stored + bytes > tenantMaxStoredBytes) {
                    state.error = storageLimit(tenant, stored + bytes);
                    return;
                }
                var written = state.upload.write(data).toCompletableFuture();
                if (!written.isDone()) {
                    state.paused++;
                    if (state.paused == 1) {
                        req.pause();
                    }
                    written.whenComplete((v, ex) -> context.runOnContext(x -> {
                        if (ex != null && state.error == null) {
                            state.error = unavailable(ex);
                        }
                        if (--state.paused == 0) {
                            req.resume();
                        }
                    }));
                } else if (written.isCompletedExceptionally() && state.error == null) {
                    state.error = ApiError.unavailable("storage_unavailable", "the file could not be stored; try again", 1000);
                }
            }

            @Override
            public void partEnd() {
                if (!state.inFile && state.field != null) {
                    state.fields.put(state.part, state.field.toString());
                }
                state.inFile = false;
            }
        });
        req.handler(buf -> {
            try {
                reader.feed(buf.getBytes());
            } catch (MultipartReader.MalformedMultipart e) {
                if (state.error == null) {
                    state.error = ApiError.invalid("invalid_multipart", e.getMessage(), null);
                }
            }
        });
        req.exceptionHandler(ex -> {
            if (state.upload != null) {
                state.upload.abort();
            }
            LOG.debug("upload failed: {}", ex.toString());
        });
        req.endHandler(v -> {
            if (state.error == null && !reader.finished()) {
                state.error = ApiError.invalid("invalid_multipart", "the multipart body ended before its closing boundary", null);
            }
            finishUpload(ctx, state);
        });
        req.resume();
    }

    /** Confined to the request's context. */
    private static final class UploadState {
        FileStore.Upload upload;
        String filename;
        ApiError error;
        String part;
        boolean inFile;
        StringBuilder field;
        int paused;
        final java.util.Map<String, String> fields = new java.util.HashMap<>();
    }

    private void finishUpload(RoutingContext ctx, UploadState state) {
        String purpose = state.fields.get("purpose");
        ApiError error = state.error;
        if (error == null && (purpose == null || purpose.isBlank())) {
            error = ApiError.invalid("missing_purpose", "'purpose' is required; use 'batch'", "purpose");
        } else if (error == null && !UPLOAD_PURPOSES.contains(purpose)) {
            error = ApiError.invalid("invalid_purpose", "'purpose' must be 'batch', was '" + purpose + "'", "purpose");
        } else if (error == null && state.upload == null) {
            error = ApiError.invalid("missing_file", "the multipart field 'file' is required", "file");
        }
        Long expiresAt = null;
        long now = clock.millis() / 1000;
        if (error == null) {
            String anchor = state.fields.get("expires_after[anchor]");
            String seconds = state.fields.get("expires_after[seconds]");
            if (seconds != null) {
                long s = parseLong(seconds, -1);
                if (s < 3600 || s > 30L * 24 * 3600 || anchor != null && !"created_at".equals(anchor)) {
                    error = ApiError.invalid("invalid_expires_after", "'expires_after' needs anchor 'created_at' and seconds "
                            + "between 3600 and 2592000", "expires_after");
                } else {
                    expiresAt = now + s;
                }
            } else {
                expiresAt = defaultExpirySeconds > 0 ? now + defaultExpirySeconds : null;
            }
        }
        if (error != null) {
            if (state.upload != null) {
                state.upload.abort();
            }
            HttpErrors.send(ctx, error);
            return;
        }
        FileStore.Upload upload = state.upload;
        upload.describe(state.filename, purpose, expiresAt); // the form's fields may follow the file part
        Context context = vertx.getOrCreateContext();
        upload.finish().whenComplete((file, ex) -> context.runOnContext(v -> {
            if (ex != null) {
                upload.abort();
                HttpErrors.send(ctx, unavailable(ex));
                return;
            }
            ctx.response().putHeader("Content-Type", "application/json").end(file.toApiJson().encode());
        }));
    }

    private void list(RoutingContext ctx) {
        Tenant tenant = authenticate.apply(ctx);
        if (tenant == null) {
            return;
        }
        int limit = 10_000;
        String l = ctx.request().getParam("limit");
        if (l != null) {
            limit = (int) parseLong(l, -1);
            if (limit < 1 || limit > MAX_LIST_LIMIT) {
                HttpErrors.send(ctx, ApiError.invalid("invalid_limit", "'limit' must be an integer between 1 and " + MAX_LIST_LIMIT, "limit"));
                return;
            }
        }
        String purpose = ctx.request().getParam("purpose");
        String after = ctx.request().getParam("after");
        int lim = limit;
        vertx.executeBlocking(() -> store.list(tenant.id(), purpose, after, lim), false).onComplete(ar -> {
            if (ar.failed()) {
                HttpErrors.send(ctx, unavailable(ar.cause()));
                return;
            }
            JsonArray data = new JsonArray();
            ar.result().files().forEach(f -> data.add(f.toApiJson()));
            ctx.response().putHeader("Content-Type", "application/json").end(new JsonObject().put("object", "list").put("data", data)
                    .put("first_id", data.isEmpty() ? null : data.getJsonObject(0).getString("id"))
                    .put("last_id", data.isEmpty() ? null : data.getJsonObject(data.size() - 1).getString("id"))
                    .put("has_more", ar.result().hasMore()).encode());
        });
    }

    private void get(RoutingContext ctx) {
        withFile(ctx, (tenant, file) -> ctx.response().putHeader("Content-Type", "application/json").end(file.toApiJson().encode()));
    }

    private void delete(RoutingContext ctx) {
        Tenant tenant = authenticate.apply(ctx);
        if (tenant == null) {
            return;
        }
        String id = ctx.pathParam("id");
        vertx.executeBlocking(() -> store.delete(tenant.id(), id), false).onComplete(ar -> {
            if (ar.failed()) {
                HttpErrors.send(ctx, unavailable(ar.cause()));
            } else if (!ar.result()) {
                HttpErrors.send(ctx, ApiError.notFound("no file '" + id + "'"));
            } else {
                ctx.response().putHeader("Content-Type", "application/json")
                        .end(new JsonObject().put("id", id).put("object", "file").put("deleted", true).encode());
            }
        });
    }

    private void content(RoutingContext ctx) {
        withFile(ctx, (tenant, file) -> {
            InputStream in = store.open(file);
            ctx.response().putHeader("Content-Type", "application/octet-stream")
                    .putHeader("Content-Disposition", "attachment; filename=\"" + file.filename().replace("\"", "") + "\"")
                    .putHeader("Content-Length", String.valueOf(file.bytes()));
            pump(ctx, in);
        });
    }

    /** Streams {@code in} to the response, 64 KiB at a time, reading only while the write queue has room. */
    private void pump(RoutingContext ctx, InputStream in) {
        vertx.executeBlocking(() -> in.readNBytes(64 * 1024), true).onComplete(ar -> {
            if (ar.failed()) {
                closeQuietly(in);
                LOG.warn("file download failed: {}", ar.cause().toString());
                ctx.response().reset();
                return;
            }
            byte[] data = ar.result();
            if (data.length == 0) {
                closeQuietly(in);
                ctx.response().end();
                return;
            }
            ctx.response().write(Buffer.buffer(data));
            if (ctx.response().writeQueueFull()) {
                ctx.response().drainHandler(v -> pump(ctx, in));
            } else {
                pump(ctx, in);
            }
        });
    }

    private static void closeQuietly(InputStream in) {
        try {
            in.close();
        } catch (java.io.IOException e) {
            LOG.debug("closing a file stream: {}", e.toString());
        }
    }

    private interface FileHandler {
        void handle(Tenant tenant, StoredFile file);
    }

    private void withFile(RoutingContext ctx, FileHandler then) {
        Tenant tenant = authenticate.apply(ctx);
        if (tenant == null) {
            return;
        }
        String id = ctx.pathParam("id");
        vertx.executeBlocking(() -> store.get(tenant.id(), id), false).onComplete(ar -> {
            if (ar.failed()) {
                HttpErrors.send(ctx, unavailable(ar.cause()));
                return;
            }
            Optional<StoredFile> f = ar.result();
            if (f.isEmpty()) {
                HttpErrors.send(ctx, ApiError.notFound("no file '" + id + "'"));
                return;
            }
            then.handle(tenant, f.get());
        });
    }

    private ApiError tooLarge() {
        return new ApiError(413, "invalid_request_error", "file_too_large", "a file may have at most " + maxFileBytes + " bytes",
                "file", 0);
    }

    private ApiError storageLimit(Tenant tenant, long bytes) {
        return ApiError.tooMany("storage_limit_exceeded", "tenant '" + tenant.id() + "' stores " + bytes + " bytes of files; at most "
                + tenantMaxStoredBytes + " are allowed: delete files or wait for them to expire", 60_000);
    }

    private static ApiError unavailable(Throwable ex) {
        return ApiError.unavailable("storage_unavailable", "the file store is unavailable (" + ex.getClass().getSimpleName()
                + "); try again", 1000);
    }

    private static long parseLong(String s, long otherwise) {
        try {
            return Long.parseLong(s.trim());
        } catch (NumberFormatException e) {
            return otherwise;
        }
    }
}
