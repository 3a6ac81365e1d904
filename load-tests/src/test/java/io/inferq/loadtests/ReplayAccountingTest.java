package io.inferq.loadtests;

import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.kvcache.tokens.ChatMessage;
import io.inferq.kvcache.tokens.PromptTokenizer;
import io.inferq.loadtests.policy.TraceRequest;
import io.inferq.loadtests.replay.JobOutcome;
import io.inferq.loadtests.replay.PromptBudget;
import io.inferq.loadtests.replay.PromptText;
import io.inferq.loadtests.replay.ReplayPlan;
import io.inferq.loadtests.replay.Replayer;
import io.inferq.loadtests.replay.Target;
import io.inferq.loadtests.replay.Tracker;
import io.inferq.loadtests.report.ReplayReport;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * How a replay counts what happened, against a fake target and tracker (no server): rejections and failures by
 * code with an example message, and prompts above the fleet's budget sent, skipped or clamped.
 */
class ReplayAccountingTest {

    /** Refuses every third submit with 429; the tracker fails jobs whose prompt has more than 1,000 words. */
    static final class Fake implements Target, Tracker {
        final AtomicInteger n = new AtomicInteger();
        final List<Integer> sentWords = new ArrayList<>();
        final AtomicInteger finished = new AtomicInteger();

        @Override
        public synchronized CompletableFuture<Answer> submit(String model, String prompt, int maxTokens) {
            sentWords.add(prompt.split(" ").length - 1);
            int i = n.incrementAndGet();
            return CompletableFuture.completedFuture(i % 3 == 0 ? new Answer(429, null, "rate_limit_exceeded", "slow down")
                    : new Answer(202, "job_" + i, null));
        }

        @Override
        public void expect(JobOutcome o) {
            if (o.promptTokens > 1000) {
                o.errorCode = "not_runnable";
                o.errorMessage = "too long for every pool";
                o.status = "failed";
            } else {
                o.status = "succeeded";
            }
            finished.incrementAndGet();
        }

        @Override
        public long finished() {
            return finished.get();
        }

        @Override
        public String kind() {
            return "fake";
        }

        @Override
        public void close() {
        }
    }

    static ReplayPlan plan() {
        List<TraceRequest> t = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            t.add(new TraceRequest(i, i % 2 == 0 ? 500 : 5000, 3, List.of()));
        }
        return ReplayPlan.of(t, 0, Long.MAX_VALUE, 1.0, 100, 1);
    }

    static Replayer.Result replay(Fake fake, PromptBudget.OverBudget action) {
        PromptBudget budget = new PromptBudget("deepseek-v2-lite", 2000, Map.of("a", 2000, "b", 1000), "test");
        Replayer.Settings s = Replayer.Settings.of(1000, "deepseek-v2-lite").withProgress(60);
        return Replayer.run(plan(), s, budget, action, fake, fake, null,
                new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
    }

    @Test
    void sendCountsFailuresAndRejectionsByCode() {
        Fake fake = new Fake();
        Replayer.Result r = replay(fake, PromptBudget.OverBudget.SEND);
        Map<String, Object> s = ReplayReport.summary(r, Map.of());
        assertThat(r.overBudget()).isEqualTo(3);
        assertThat(s.get("requests_sent")).isEqualTo(6);
        assertThat(s.get("rejections_by_code")).isEqualTo(Map.of("rate_limit_exceeded", 2L));
        assertThat(s.get("rejections_by_status_code")).isEqualTo(Map.of("429 rate_limit_exceeded", 2L));
        // submits 1..6 alternate 500 / 5000 words; 3 and 6 are refused: accepted are 1 (500), 2 (5000), 4 (5000), 5 (500)
        assertThat(s.get("failures_by_error_code")).isEqualTo(Map.of("not_runnable", 2L));
        assertThat(s.get("finished_by_status")).isEqualTo(Map.of("failed", 2L, "succeeded", 2L));
        @SuppressWarnings("unchecked")
        Map<String, String> examples = (Map<String, String>) s.get("example_message_by_code");
        assertThat(examples).containsEntry("not_runnable", "too long for every pool")
                .containsEntry("rate_limit_exceeded", "slow down");
        assertThat(s.get("over_budget_requests")).isEqualTo(3);
        assertThat(s.get("accepted_not_finished")).isEqualTo(0L);
        assertThat(ReplayReport.outcomeLine(s)).contains("not_runnable=2", "rate_limit_exceeded=2", "over the fleet's budget 3 (send");
    }

    @Test
    void skipLeavesOverBudgetPromptsOutAndClampShortensThem() {
        Fake skip = new Fake();
        Replayer.Result r = replay(skip, PromptBudget.OverBudget.SKIP);
        Map<String, Object> s = ReplayReport.summary(r, Map.of());
        assertThat(r.skippedOverBudget()).isEqualTo(3);
        assertThat(s.get("requests_planned")).isEqualTo(6);
        assertThat(s.get("requests_sent")).isEqualTo(3);
        assertThat(skip.sentWords).containsOnly(500);

        Fake clamp = new Fake();
        Replayer.Result c = replay(clamp, PromptBudget.OverBudget.CLAMP);
        assertThat(c.clampedToBudget()).isEqualTo(3);
        assertThat(clamp.sentWords).containsExactly(500, 2000 - PromptText.TEMPLATE_TOKENS, 500,
                2000 - PromptText.TEMPLATE_TOKENS, 500, 2000 - PromptText.TEMPLATE_TOKENS);
        assertThat(ReplayReport.summary(c, Map.of()).get("clamped_to_budget")).isEqualTo(3);
    }

    @Test
    void budgetCheckSaysHowManyPromptsNoPoolCanRun() {
        PromptBudget budget = new PromptBudget("deepseek-v2-lite", 2000, Map.of("a", 2000, "b", 1000), "test");
        PromptBudget.Check c = budget.check(plan());
        assertThat(c.overBudget()).isEqualTo(3);
        assertThat(c.onlyBiggerPools()).isZero();
        assertThat(String.join("\n", budget.explain(c, PromptBudget.OverBudget.SEND)))
                .contains("WARNING: 3 of 6 requests have prompts above the largest pool budget 2000 for model deepseek-v2-lite",
                        "not_runnable", "--over-budget skip", "--over-budget clamp");
        PromptBudget unknown = PromptBudget.unknown("deepseek-v2-lite", "not checked");
        assertThat(unknown.check(plan()).overBudget()).isZero();
        assertThat(unknown.exceededBy(1_000_000)).isFalse();
    }

    @Test
    void templateTokensAreWhatTheServerCounts() {
        PromptTokenizer t = PromptTokenizer.o200kBase();
        for (int words : new int[] {1, 700, 5000}) {
            String prompt = PromptText.build(words, List.of(3L, 4L), 0, words);
            assertThat(t.encodeChat(List.of(new ChatMessage("user", prompt)))).hasSize(words + PromptText.TEMPLATE_TOKENS);
        }
    }
}
