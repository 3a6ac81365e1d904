package io.inferq.server.wiring;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.hazelcast.core.HazelcastInstance;
import io.inferq.job.JobStatus;
import io.inferq.job.TerminalClaims.Claim;
import io.inferq.server.TestInferq;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Terminal claims on a real Hazelcast member: the first claim wins, its owner may repeat it, reads agree. */
class HazelcastTerminalClaimsTest {
    static HazelcastInstance hz;

    @BeforeAll
    static void start() {
        hz = TestInferq.loopbackMember("inferq-claims", HazelcastTerminalClaims.mapConfig());
    }

    @AfterAll
    static void stop() {
        hz.shutdown();
    }

    @Test
    void theFirstClaimWinsAndEveryReadAgrees() {
        HazelcastTerminalClaims claims = new HazelcastTerminalClaims(hz);
        assertThat(claims.claim("j1", JobStatus.CANCELLED, "api")).isEqualTo(new Claim(JobStatus.CANCELLED, "api"));
        assertThat(claims.claim("j1", JobStatus.SUCCEEDED, "batch-7")).as("a later claim learns the winner")
                .isEqualTo(new Claim(JobStatus.CANCELLED, "api"));
        assertThat(claims.tryClaim("j2", JobStatus.SUCCEEDED, "batch-7")).isTrue();
        assertThat(claims.tryClaim("j2", JobStatus.SUCCEEDED, "batch-7")).as("the owner may repeat its claim").isTrue();
        assertThat(claims.tryClaim("j2", JobStatus.SUCCEEDED, "batch-9")).as("another copy of the job may not").isFalse();

        assertThat(claims.claimed("j3")).isNull();
        Map<String, Claim> all = claims.claimedAll(List.of("j1", "j2", "j3"));
        assertThat(all).containsOnlyKeys("j1", "j2")
                .containsEntry("j1", new Claim(JobStatus.CANCELLED, "api"))
                .containsEntry("j2", new Claim(JobStatus.SUCCEEDED, "batch-7"));
        assertThat(all).isEqualTo(Map.of("j1", claims.claimed("j1"), "j2", claims.claimed("j2")));
        assertThat(claims.claimedAll(List.of())).isEmpty();
    }

    @Test
    void aSmallBatchReadKeyByKeyAndALargeOneReadAtOnceAnswerTheSameClaims() {
        HazelcastTerminalClaims claims = new HazelcastTerminalClaims(hz);
        int n = HazelcastTerminalClaims.DIRECT_READS * 3;
        List<String> ids = new java.util.ArrayList<>();
        Map<String, Claim> expected = new java.util.HashMap<>();
        for (int i = 0; i < n; i++) {
            String id = "read-" + i;
            ids.add(id);
            if (i % 3 != 0) { // every third job has no claim
                JobStatus status = i % 2 == 0 ? JobStatus.SUCCEEDED : JobStatus.EXPIRED;
                claims.claim(id, status, "batch-" + i);
                expected.put(id, new Claim(status, "batch-" + i));
            }
        }
        assertThat(claims.claimedAll(ids)).as("more than DIRECT_READS: one getAll").isEqualTo(expected);
        List<String> few = ids.subList(0, HazelcastTerminalClaims.DIRECT_READS);
        Map<String, Claim> fewExpected = new java.util.HashMap<>(expected);
        fewExpected.keySet().retainAll(few);
        assertThat(fewExpected).as("the fixture has claimed and unclaimed jobs among the few").isNotEmpty().hasSizeLessThan(few.size());
        assertThat(claims.claimedAll(few)).as("at most DIRECT_READS: key by key").isEqualTo(fewExpected);
        assertThat(claims.claimedAll(List.of(ids.get(0), ids.get(0)))).as("a job named twice is read once").isEmpty();
        assertThat(claims.claimedAll(List.of(ids.get(1)))).containsOnlyKeys(ids.get(1));
    }

    @Test
    void aClaimPassesToAnotherOwnerOnlyFromTheOwnerItNames() {
        HazelcastTerminalClaims claims = new HazelcastTerminalClaims(hz);
        Claim unwritten = claims.claim("t1", JobStatus.CANCELLED, "api");
        assertThat(claims.transfer("t1", new Claim(JobStatus.CANCELLED, "someone-else"), "api:written")).isFalse();
        assertThat(claims.transfer("t1", new Claim(JobStatus.EXPIRED, "api"), "api:written")).as("the status must match too").isFalse();
        assertThat(claims.claimed("t1")).isEqualTo(unwritten);

        assertThat(claims.transfer("t1", unwritten, "api:written")).isTrue();
        assertThat(claims.claimed("t1")).isEqualTo(new Claim(JobStatus.CANCELLED, "api:written"));
        assertThat(claims.transfer("t1", unwritten, "api:written")).as("repeating a transfer that happened").isTrue();
        assertThat(claims.claim("t1", JobStatus.CANCELLED, "api")).as("the old owner no longer repeats its claim")
                .isEqualTo(new Claim(JobStatus.CANCELLED, "api:written"));
        assertThat(claims.transfer("t-none", unwritten, "api:written")).as("no claim, nothing to hand over").isFalse();
        assertThat(claims.claimed("t-none")).isNull();
    }

    @Test
    void aBatchClaimSetsTheAbsentClaimsAndAnswersEveryWinner() {
        HazelcastTerminalClaims claims = new HazelcastTerminalClaims(hz);
        claims.claim("b-cancelled", JobStatus.CANCELLED, "api");
        claims.claim("b-mine", JobStatus.SUCCEEDED, "batch-3");

        Map<String, Claim> winners = claims.claimAll(Map.of("b-cancelled", JobStatus.SUCCEEDED, "b-mine", JobStatus.SUCCEEDED,
                "b-new-ok", JobStatus.SUCCEEDED, "b-new-failed", JobStatus.FAILED), "batch-3");

        assertThat(winners).isEqualTo(Map.of(
                "b-cancelled", new Claim(JobStatus.CANCELLED, "api"),
                "b-mine", new Claim(JobStatus.SUCCEEDED, "batch-3"),
                "b-new-ok", new Claim(JobStatus.SUCCEEDED, "batch-3"),
                "b-new-failed", new Claim(JobStatus.FAILED, "batch-3")));
        assertThat(claims.claimed("b-new-failed")).as("stored, not only answered").isEqualTo(new Claim(JobStatus.FAILED, "batch-3"));
        assertThat(claims.claim("b-new-ok", JobStatus.EXPIRED, "dispatcher")).as("a later single claim learns the batch's winner")
                .isEqualTo(new Claim(JobStatus.SUCCEEDED, "batch-3"));
        assertThat(claims.claimAll(Map.of(), "batch-3")).isEmpty();
        assertThatThrownBy(() -> claims.claimAll(Map.of("b-x", JobStatus.QUEUED), "batch-3"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("not a terminal status");
        assertThat(claims.claimed("b-x")).isNull();
    }

    @Test
    void onlyTerminalStatusesCanBeClaimed() {
        HazelcastTerminalClaims claims = new HazelcastTerminalClaims(hz);
        assertThatThrownBy(() -> claims.claim("j4", JobStatus.RUNNING, "batch-1"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("not a terminal status");
    }
}
