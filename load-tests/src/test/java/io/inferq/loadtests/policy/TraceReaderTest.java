package io.inferq.loadtests.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every trace format, detected or named, and malformed input named by file and line. */
class TraceReaderTest {

    @TempDir
    Path dir;

    private Path file(String name, String content) throws IOException {
        Path p = dir.resolve(name);
        Files.writeString(p, content);
        return p;
    }

    @Test
    void mooncakeWithAndWithoutHashIds() throws IOException {
        // any name: the format is read from the content, not the extension
        Path p = file("trace.txt", "{\"timestamp\": 5000, \"input_length\": 600, \"output_length\": 5, \"hash_ids\": [7, 8]}\n\n"
                + "{\"timestamp\": 2000, \"input_length\": 10, \"output_length\": 0}\n"
                + "{\"input_length\": 30, \"timestamp\": 2000, \"output_length\": 3, \"hash_ids\": []}\n");
        assertThat(TraceReader.detect(p)).isEqualTo(TraceReader.Format.MOONCAKE);
        assertThat(TraceReader.read(p)).containsExactly(new TraceRequest(0, 10, 1, List.of()),
                new TraceRequest(0, 30, 3, List.of()), new TraceRequest(3000, 600, 5, List.of(7L, 8L)));
    }

    @Test
    void azureCsv() throws IOException {
        Path p = file("a.log", "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                + "2023-11-16 18:15:46.6805900,374,44\n2023-11-16 18:15:50.9951690,396,109\n2023-11-16 18:15:51,1,0\n");
        assertThat(TraceReader.detect(p)).isEqualTo(TraceReader.Format.AZURE);
        assertThat(TraceReader.read(p)).containsExactly(new TraceRequest(0, 374, 44, List.of()),
                new TraceRequest(4315, 396, 109, List.of()), new TraceRequest(4320, 1, 1, List.of()));
    }

    @Test
    void burstGptCsv() throws IOException {
        Path p = file("BurstGPT_1.csv", "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
                + "5,ChatGPT,472,18,490,Conversation log\n"
                + "12.5,GPT-4,1024,0,1024,API log\n"
                + "7,ChatGPT,30,200,230,Conversation log\n");
        assertThat(TraceReader.detect(p)).isEqualTo(TraceReader.Format.BURSTGPT);
        assertThat(TraceReader.read(p)).containsExactly(new TraceRequest(0, 472, 18, List.of()),
                new TraceRequest(2000, 30, 200, List.of()), new TraceRequest(7500, 1024, 1, List.of()));
    }

    @Test
    void aNamedFormatIsUsedAsIs() throws IOException {
        Path p = file("b.csv", "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n0,ChatGPT,5,6,11,API log\n");
        assertThat(TraceReader.read(p, TraceReader.Format.parse("BurstGPT"))).containsExactly(new TraceRequest(0, 5, 6, List.of()));
        assertThatThrownBy(() -> TraceReader.read(p, TraceReader.Format.AZURE))
                .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith(p + ":1: expected the header");
        assertThatThrownBy(() -> TraceReader.Format.parse("sharegpt")).hasMessageContaining("--trace-format");
    }

    @Test
    void malformedInputNamesTheFileAndLine() throws IOException {
        Path badJson = file("bad.jsonl", "{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 1}\n\n{\"timestamp\": 1, \"input_length\": 5\n");
        assertThatThrownBy(() -> TraceReader.read(badJson)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith(badJson + ":3: not a JSON object");
        Path missing = file("missing.jsonl", "{\"timestamp\": 0, \"output_length\": 1}\n");
        assertThatThrownBy(() -> TraceReader.read(missing)).hasMessageStartingWith(missing + ":1: missing field input_length");
        Path badIds = file("ids.jsonl", "{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 1, \"hash_ids\": [\"x\"]}\n");
        assertThatThrownBy(() -> TraceReader.read(badIds)).hasMessageStartingWith(badIds + ":1: hash_ids holds a non-integer");
        Path badAzure = file("az.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46,374,44\nyesterday,1,2\n");
        assertThatThrownBy(() -> TraceReader.read(badAzure)).hasMessageStartingWith(badAzure + ":3: TIMESTAMP 'yesterday'");
        Path shortRow = file("bg.csv", "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n1,ChatGPT,5\n");
        assertThatThrownBy(() -> TraceReader.read(shortRow)).hasMessageStartingWith(shortRow + ":2: 6 columns expected, found 3");
        Path badTokens = file("bg2.csv", "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n1,ChatGPT,many,5,5,API log\n");
        assertThatThrownBy(() -> TraceReader.read(badTokens)).hasMessageStartingWith(badTokens + ":2: Request tokens 'many'");
        Path unknown = file("u.csv", "time,prompt,completion\n1,2,3\n");
        assertThatThrownBy(() -> TraceReader.read(unknown)).hasMessageStartingWith(unknown + ":1: unknown trace format")
                .hasMessageContaining("--trace-format");
        Path empty = file("empty.jsonl", "\n\n");
        assertThatThrownBy(() -> TraceReader.read(empty)).hasMessage(empty + ": the trace is empty");
        Path headerOnly = file("h.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n");
        assertThatThrownBy(() -> TraceReader.read(headerOnly)).hasMessage(headerOnly + ": the trace holds no request");
        Path absent = dir.resolve("absent.jsonl");
        assertThatThrownBy(() -> TraceReader.read(absent)).isInstanceOf(UncheckedIOException.class).hasMessageContaining(absent.toString());
    }
}
