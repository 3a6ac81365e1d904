package io.inferq.workers.backend;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The simulated backend streams text at its modelled decode rate and honours stop, on a fake clock. */
class SimulatedStreamingTest {
    final ManualClock clock = new ManualClock(SimulatedBackendTest.T0);

    record Piece(String jobId, String text, long atMs) {
    }

    @ParameterizedTest
    @EnumSource(SimulatedBackend.EngineModel.class)
    void textArrivesSpreadOverTheDecodeAndAddsUpToTheOutput(SimulatedBackend.EngineModel model) throws InterruptedException {
        SimulatedBackend backend = new SimulatedBackend(SimulatedBackendTest.ROOFLINE, 1.0, clock, model);
        SequenceWork streamed = new SequenceWork("s", "dense-10b", List.of(new SequenceWork.Message("user", "hi")), 100, 500,
                null, 0, null, true);
        SequenceWork plain = SimulatedBackendTest.sequence("p", 100, 0, 500);
        List<Piece> pieces = new ArrayList<>();
        List<SequenceOutcome> out = backend.run(new BatchWork("b", "pool", 0, List.of(streamed, plain)),
                (job, text) -> pieces.add(new Piece(job, text, clock.millis())));
        SequenceOutcome.Completed done = (SequenceOutcome.Completed) out.get(0);
        assertThat(pieces).allMatch(p -> p.jobId().equals("s"));
        assertThat(String.join("", pieces.stream().map(Piece::text).toList())).isEqualTo(done.text());
        assertThat(pieces.size()).as("pieces over a %d ms decode", done.finishedAtMs() - done.firstTokenAtMs()).isGreaterThan(5);
        assertThat(pieces.get(0).atMs()).isEqualTo(done.firstTokenAtMs());
        assertThat(pieces.get(pieces.size() - 1).atMs()).isEqualTo(done.finishedAtMs());
        // between first and last, pieces follow the decode: the middle one arrives mid-way
        Piece middle = pieces.get(pieces.size() / 2);
        assertThat(middle.atMs()).isBetween(done.firstTokenAtMs() + 1, done.finishedAtMs() - 1);
    }

    @Test
    void stopCutsTheTextAndSaysSo() throws InterruptedException {
        SimulatedBackend backend = new SimulatedBackend(SimulatedBackendTest.ROOFLINE, 1.0, clock);
        SequenceWork s = new SequenceWork("s", "dense-10b", List.of(new SequenceWork.Message("user", "hi")), 10, 8, null, 0,
                "{\"stop\":[\"simulated tokens\"],\"seed\":1}", false);
        SequenceOutcome.Completed done = (SequenceOutcome.Completed) backend.run(new BatchWork("b", "pool", 0, List.of(s))).get(0);
        assertThat(done.finishReason()).isEqualTo("stop");
        assertThat(done.text()).doesNotContain("simulated tokens").endsWith("8 ");
    }

    /**
     * Every sequence, streamed or not, is reported prefilled once, at its first token: before the batch ends when the
     * other sequence still decodes (what lets a worker store its prompt's blocks while the batch runs).
     */
    @ParameterizedTest
    @EnumSource(SimulatedBackend.EngineModel.class)
    void everySequenceIsReportedPrefilledOnceAtItsFirstToken(SimulatedBackend.EngineModel model) throws InterruptedException {
        SimulatedBackend backend = new SimulatedBackend(SimulatedBackendTest.ROOFLINE, 1.0, clock, model);
        SequenceWork shortOne = SimulatedBackendTest.sequence("short", 100, 0, 5);
        SequenceWork longOne = SimulatedBackendTest.sequence("long", 100, 0, 500);
        List<Piece> prefilled = new ArrayList<>();
        List<SequenceOutcome> out = backend.run(new BatchWork("b", "pool", 0, List.of(shortOne, longOne)), new TokenSink() {
            @Override
            public void tokens(String jobId, String text) {
            }

            @Override
            public void prefilled(String jobId) {
                prefilled.add(new Piece(jobId, "", clock.millis()));
            }
        });
        assertThat(prefilled).extracting(Piece::jobId).containsExactlyInAnyOrder("short", "long");
        for (int i = 0; i < 2; i++) {
            SequenceOutcome.Completed done = (SequenceOutcome.Completed) out.get(i);
            Piece p = prefilled.stream().filter(x -> x.jobId().equals(done.jobId())).findFirst().orElseThrow();
            assertThat(p.atMs()).as("%s reported at its first token", done.jobId()).isEqualTo(done.firstTokenAtMs());
        }
        SequenceOutcome.Completed longDone = (SequenceOutcome.Completed) out.get(1);
        assertThat(prefilled).allMatch(p -> p.atMs() < longDone.finishedAtMs());
    }
}
