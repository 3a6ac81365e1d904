package io.inferq.server.batch;

import static org.assertj.core.api.Assertions.assertThat;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.HttpResponse;
import com.openai.models.batches.Batch;
import com.openai.models.batches.BatchCreateParams;
import com.openai.models.batches.BatchListParams;
import com.openai.models.files.FileCreateParams;
import com.openai.models.files.FileObject;
import com.openai.models.files.FilePurpose;
import io.inferq.server.InferqServer;
import io.inferq.server.TestInferq;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The official OpenAI Java SDK against a running inferq: upload a batch input file, create a batch, poll it, download
 * its output; create another and cancel it, download its error file; list batches page by page; read, list and delete
 * files. No hand-written HTTP: this is what users of the SDK run after changing only the base URL.
 */
class OpenAiSdkBatchTest {

    static byte[] input(String prefix, int lines) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < lines; i++) {
            sb.append(new JsonObject().put("custom_id", prefix + i).put("method", "POST").put("url", "/v1/chat/completions")
                    .put("body", new JsonObject().put("model", "deepseek-v2-lite").put("max_tokens", 8)
                            .put("messages", new io.vertx.core.json.JsonArray().add(new JsonObject().put("role", "user")
                                    .put("content", "say hello number " + i)))).encode()).append('\n');
        }
        return sb.toString().getBytes(StandardCharsets.UTF_8);
    }

    static List<JsonObject> lines(OpenAIClient client, String fileId) throws IOException {
        List<JsonObject> out = new ArrayList<>();
        try (HttpResponse r = client.files().content(fileId); InputStream in = r.body()) {
            for (String l : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
                if (!l.isBlank()) {
                    out.add(new JsonObject(l));
                }
            }
        }
        return out;
    }

    static Batch awaitStatus(OpenAIClient client, String id, Set<Batch.Status> wanted) {
        Batch[] last = new Batch[1];
        TestInferq.await(Duration.ofSeconds(120), () -> {
            last[0] = client.batches().retrieve(id);
            return wanted.contains(last[0].status());
        }, "batch " + id + " to reach " + wanted);
        return last[0];
    }

    @Test
    void theOfficialSdkRunsTheWholeBatchLifecycle() throws IOException {
        InferqServer server = TestInferq.shared();
        OpenAIClient client = OpenAIOkHttpClient.builder().baseUrl("http://127.0.0.1:" + server.httpPort() + "/v1")
                .apiKey("unused-in-open-mode").build();

        java.nio.file.Path jsonl = java.nio.file.Files.createTempFile("sdk-batch", ".jsonl");
        java.nio.file.Files.write(jsonl, input("sdk-", 20));
        FileObject file = client.files().create(FileCreateParams.builder().file(jsonl).purpose(FilePurpose.BATCH).build());
        assertThat(file.filename()).isEqualTo(jsonl.getFileName().toString());
        assertThat(file.id()).startsWith("file-");
        assertThat(file.bytes()).isEqualTo(input("sdk-", 20).length);
        assertThat(client.files().retrieve(file.id()).id()).isEqualTo(file.id());

        Batch created = client.batches().create(BatchCreateParams.builder().inputFileId(file.id())
                .endpoint(BatchCreateParams.Endpoint.V1_CHAT_COMPLETIONS).completionWindow(BatchCreateParams.CompletionWindow._24H)
                .metadata(BatchCreateParams.Metadata.builder().putAdditionalProperty("purpose", com.openai.core.JsonValue.from("sdk-test"))
                        .build())
                .build());
        assertThat(created.status()).isEqualTo(Batch.Status.VALIDATING);
        assertThat(created.inputFileId()).isEqualTo(file.id());

        Batch done = awaitStatus(client, created.id(), Set.of(Batch.Status.COMPLETED, Batch.Status.FAILED));
        assertThat(done.status()).as("errors: %s", done.errors()).isEqualTo(Batch.Status.COMPLETED);
        assertThat(done.requestCounts().orElseThrow().total()).isEqualTo(20);
        assertThat(done.requestCounts().orElseThrow().completed()).isEqualTo(20);
        assertThat(done.usage().orElseThrow().outputTokens()).isPositive();
        assertThat(done.completedAt()).isPresent();
        assertThat(done.finalizingAt()).isPresent();
        assertThat(done.errorFileId()).isEmpty();
        List<JsonObject> output = lines(client, done.outputFileId().orElseThrow());
        assertThat(output).hasSize(20);
        Set<String> ids = new HashSet<>();
        for (JsonObject line : output) {
            ids.add(line.getString("custom_id"));
            assertThat(line.getValue("error")).isNull();
            JsonObject response = line.getJsonObject("response");
            assertThat(response.getInteger("status_code")).isEqualTo(200);
            assertThat(response.getJsonObject("body").getString("object")).isEqualTo("chat.completion");
            assertThat(response.getJsonObject("body").getJsonArray("choices")).hasSize(1);
        }
        assertThat(ids).hasSize(20);

        // a second batch, cancelled at once: every custom_id is in exactly one of the two files
        FileObject file2 = client.files().create(FileCreateParams.builder().file(input("cancel-", 200)).purpose(FilePurpose.BATCH).build());
        Batch second = client.batches().create(BatchCreateParams.builder().inputFileId(file2.id())
                .endpoint(BatchCreateParams.Endpoint.V1_CHAT_COMPLETIONS).completionWindow(BatchCreateParams.CompletionWindow._24H).build());
        Batch cancelling = client.batches().cancel(second.id());
        assertThat(cancelling.status()).isIn(Batch.Status.CANCELLING, Batch.Status.CANCELLED);
        Batch cancelled = awaitStatus(client, second.id(), Set.of(Batch.Status.CANCELLED));
        assertThat(cancelled.cancelledAt()).isPresent();
        List<String> seen = new ArrayList<>();
        if (cancelled.outputFileId().isPresent()) {
            lines(client, cancelled.outputFileId().get()).forEach(l -> seen.add(l.getString("custom_id")));
        }
        List<JsonObject> errors = lines(client, cancelled.errorFileId().orElseThrow());
        errors.forEach(l -> {
            seen.add(l.getString("custom_id"));
            assertThat(l.getJsonObject("error").getString("code")).isEqualTo("batch_cancelled");
        });
        assertThat(seen).hasSize(200).doesNotHaveDuplicates();

        // list page by page with the cursor
        var page = client.batches().list(BatchListParams.builder().limit(1).build());
        assertThat(page.data()).hasSize(1);
        assertThat(page.hasNextPage()).isTrue();
        Set<String> listed = new HashSet<>();
        page.autoPager().forEach(b -> listed.add(b.id()));
        assertThat(listed).contains(created.id(), second.id());

        // files: list, delete
        assertThat(client.files().list().data()).extracting(FileObject::id).contains(file.id(), file2.id());
        assertThat(client.files().delete(file2.id()).deleted()).isTrue();
        assertThat(client.files().list().data()).extracting(FileObject::id).doesNotContain(file2.id());
    }
}
