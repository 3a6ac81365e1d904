package io.inferq.ingress.webhooks;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.DoubleRange;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Scale;
import org.junit.jupiter.api.Test;

class RetryScheduleTest {

    @Test
    void followsTheStandardWebhooksScheduleThenGivesUp() {
        var s = new RetrySchedule(0.1, () -> 0.5); // 0.5 = no jitter
        long[] expected = {5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000};
        for (int made = 1; made <= 7; made++) {
            assertThat(s.nextDelayMs(made, 0)).as("after attempt %d", made).isEqualTo(expected[made - 1]);
        }
        assertThat(s.nextDelayMs(8, 0)).isEqualTo(-1);
        assertThat(RetrySchedule.MAX_ATTEMPTS).isEqualTo(8);
    }

    @Property
    void jitterStaysWithinItsBound(@ForAll @IntRange(min = 1, max = 7) int made, @ForAll @DoubleRange(min = 0, max = 0.999999) @Scale(6) double r) {
        long base = RetrySchedule.DELAYS.get(made).toMillis();
        long d = new RetrySchedule(0.1, () -> r).nextDelayMs(made, 0);
        assertThat(d).isBetween(Math.round(base * 0.9) - 1, Math.round(base * 1.1) + 1);
    }

    @Test
    void retryAfterIsHonouredOnlyWhenLongerAndIsCapped() {
        var s = new RetrySchedule(0, () -> 0.5);
        assertThat(s.nextDelayMs(1, 60_000)).isEqualTo(60_000);
        assertThat(s.nextDelayMs(3, 60_000)).isEqualTo(Duration.ofMinutes(30).toMillis());
        assertThat(s.nextDelayMs(1, Duration.ofDays(3).toMillis())).isEqualTo(Duration.ofHours(10).toMillis());
    }

    @Test
    void parsesRetryAfterSecondsAndHttpDates() {
        long now = Instant.parse("2030-01-01T00:00:00Z").toEpochMilli();
        assertThat(RetrySchedule.parseRetryAfter("120", now)).isEqualTo(120_000);
        String date = DateTimeFormatter.RFC_1123_DATE_TIME.format(Instant.ofEpochMilli(now + 600_000).atOffset(ZoneOffset.UTC));
        assertThat(RetrySchedule.parseRetryAfter(date, now)).isEqualTo(600_000);
        assertThat(RetrySchedule.parseRetryAfter("Mon, 01 Jan 2001 00:00:00 GMT", now)).isZero();
        assertThat(RetrySchedule.parseRetryAfter("soon", now)).isZero();
        assertThat(RetrySchedule.parseRetryAfter(null, now)).isZero();
    }
}
