package io.inferq.dispatcher;

import java.util.Objects;

/**
 * A pool's service-time model learned online: the configured model (a chip's roofline figures) is the <em>prior</em>,
 * and three coefficients are fitted to the batches the pool actually ran:
 * <pre>
 *   observed seconds ≈ a × prior prefill seconds + b × prior decode seconds + c × prefix tokens fetched
 * </pre>
 * {@code a} and {@code b} scale the prior's prefill and decode rates (1 = the prior is right; 2 = the pool is twice as
 * slow as its catalogue entry), {@code c} is the cost in seconds of each cached prompt token read instead of
 * prefilled (a KV fetch: 0 for an engine's local prefix cache, more for a remote tier).
 *
 * <h2>Fit</h2>
 * Weighted least squares over every observed batch with exponentially decaying weights, plus a ridge pull toward the
 * prior ({@code a = b = 1}, {@code c = c0}) worth {@value #PRIOR_WEIGHT} batch of the recent mix (each penalty is in
 * seconds of that coefficient's contribution to a mean batch, so it does not depend on units). A batch's weight halves
 * every {@link #halfLifeBatches()} later batches of the same pool (default {@value #DEFAULT_HALF_LIFE_BATCHES}: a pool
 * that gets slower — a co-tenant, thermal throttling, an engine upgrade — is re-learned within a few dozen batches,
 * while one odd batch moves the estimate by about 1/{@value #DEFAULT_HALF_LIFE_BATCHES} × 1.44 of its error).
 * Memory is bounded: the fit keeps only the weighted sums (a 3 × 3 matrix and two vectors), whatever the number of
 * batches. Coefficients are clamped to [{@value #MIN_SCALE}, {@value #MAX_SCALE}], so a burst of outliers (a batch
 * held up by a restart) cannot make a pool look free or dead. When prefill and decode are always seen in the same
 * proportion the two cannot be told apart from batch times alone: the batch's time is still learned, and the ridge
 * splits the excess equally in seconds between the two parts (so a prefill-heavy pool's prefill scale stays below the
 * truth and its decode scale above). Penalties proportional to each part would scale both alike instead; measured in
 * the simulator, that lost goodput (on a continuous-batching engine the true decode scale is well below the prior's 1,
 * since overlapping batches share decode steps), so it was not adopted.
 *
 * <h2>Time to first token, observed on its own</h2>
 * The fit above learns throughput: on a continuous-batching engine batches overlap, and the batch rows say how much
 * instance time a batch's work takes, not how long its prompts wait for their first token. A second, separate figure
 * does that: {@link #observePrefill} gives how long an engine took from a batch's arrival (or from the end of the
 * prefill it queued behind) to the first token of its last sequence, against the prior's prefill of the batch as
 * predicted at send time (stretched by the decode steps that share the engine's iterations), and
 * {@link #prefillLatencyScale()} is their ratio: a one-coefficient least squares with the same half-life (counted in
 * prefill observations), the same ridge toward 1 worth {@value #PRIOR_WEIGHT} mean observation, and the same clamp.
 * Deadline-aware batch sizing predicts first tokens with it (never below the roofline's). Fitting both kinds of rows in
 * one model was measured in the simulator and lost goodput (ect at 2×: conversation 23.60 against 24.97, Azure 184.31
 * against 187.69): a prefill scale pinned by latencies no longer lets the batch rows fit the throughput that backlog
 * and admission estimates need.
 *
 * <h2>Threading</h2>
 * Not thread-safe: owned by the scheduler's thread, like {@link PoolLedger}. The estimate methods are cheap (a few
 * multiplications over the prior's answer).
 */
final class CalibratedServiceTime implements ServiceTimeModel {

    /** Default half-life of an observation, in batches of the pool. */
    public static final int DEFAULT_HALF_LIFE_BATCHES = 32;
    /** How many (recent, mean) batches the prior counts for. */
    static final double PRIOR_WEIGHT = 1.0;
    static final double MIN_SCALE = 0.1;
    static final double MAX_SCALE = 10.0;

    private final ServiceTimeModel prior;
    private final double decay;
    private final int halfLifeBatches;
    private final double fetchPrior;
    // weighted sums of x xᵀ, x y and x (x = prior prefill s, prior decode s, fetched tokens; y = observed s)
    private final double[][] sxx = new double[3][3];
    private final double[] sxy = new double[3];
    private final double[] sx = new double[3];
    // weighted sums over prefill observations (x = the prior's stretched prefill s, y = observed prefill s)
    private double pxx;
    private double pxy;
    private double pw;
    private long prefillObservations;
    private double prefillLatencyScale = 1;
    private double sw;
    /** Weighted sum of the batches behind each observation (sw counts observations). */
    private double sb;
    private long observations;
    private double prefillScale = 1;
    private double decodeScale = 1;
    private double fetchSecondsPerToken;

    /** Calibrates {@code prior} with the default half-life and no KV-fetch cost as the prior. */
    public CalibratedServiceTime(ServiceTimeModel prior) {
        this(prior, DEFAULT_HALF_LIFE_BATCHES, 0.0);
    }

    /**
     * @param prior                      the configured model (roofline): the estimate before any batch ran
     * @param halfLifeBatches            how many later batches halve an observation's weight, at least 1
     * @param fetchSecondsPerTokenPrior  prior KV-fetch cost per cached prompt token, seconds, at least 0
     */
    public CalibratedServiceTime(ServiceTimeModel prior, int halfLifeBatches, double fetchSecondsPerTokenPrior) {
        this.prior = Objects.requireNonNull(prior, "prior must not be null");
        if (halfLifeBatches < 1) {
            throw new IllegalArgumentException("halfLifeBatches must be at least 1, was " + halfLifeBatches);
        }
        if (!(fetchSecondsPerTokenPrior >= 0)) {
            throw new IllegalArgumentException("fetchSecondsPerTokenPrior must be at least 0, was " + fetchSecondsPerTokenPrior);
        }
        this.halfLifeBatches = halfLifeBatches;
        this.decay = Math.pow(0.5, 1.0 / halfLifeBatches);
        this.fetchPrior = fetchSecondsPerTokenPrior;
        this.fetchSecondsPerToken = fetchSecondsPerTokenPrior;
    }

    @Override
    public double prefillSeconds(int uncachedPromptTokens) {
        return prefillScale * prior.prefillSeconds(uncachedPromptTokens);
    }

    @Override
    public double decodeSeconds(int batchSequences, int outputTokens, long contextTokens) {
        return decodeScale * prior.decodeSeconds(batchSequences, outputTokens, contextTokens);
    }

    /** The prior's: an engine sizes its prefill chunk by time, so a pool slower than its prior keeps its chunk. */
    @Override
    public double prefillChunkSeconds() {
        return prior.prefillChunkSeconds();
    }

    /** Seconds to read {@code cachedTokens} prompt tokens from the KV cache instead of prefilling them. */
    public double fetchSeconds(long cachedTokens) {
        return fetchSecondsPerToken * Math.max(0, cachedTokens);
    }

    /** The prior's estimate of one batch, split into the parts the fit scales. */
    public record Estimate(double priorPrefillSeconds, double priorDecodeSeconds, long fetchedTokens) {
        /** No batch: what sums of batches start from. */
        static final Estimate NONE = new Estimate(0, 0, 0);

        /** The parts of this batch and {@code other} together (the model is linear: observable as one). */
        Estimate plus(Estimate other) {
            return new Estimate(priorPrefillSeconds + other.priorPrefillSeconds, priorDecodeSeconds + other.priorDecodeSeconds,
                    fetchedTokens + other.fetchedTokens);
        }
    }

    /** The prior's parts for a batch (what {@link #observe} needs back when the batch has run). */
    public Estimate priorEstimate(int uncachedPromptTokens, int sequences, int maxOutputTokens, long contextTokens,
                                  long fetchedTokens) {
        return new Estimate(prior.prefillSeconds(uncachedPromptTokens),
                prior.decodeSeconds(sequences, maxOutputTokens, contextTokens), fetchedTokens);
    }

    /** The calibrated estimate of a batch whose prior parts are {@code e}. */
    public double seconds(Estimate e) {
        return seconds(e.priorPrefillSeconds(), e.priorDecodeSeconds(), e.fetchedTokens());
    }

    private double seconds(double priorPrefillSeconds, double priorDecodeSeconds, double fetchedTokens) {
        return prefillScale * priorPrefillSeconds + decodeScale * priorDecodeSeconds + fetchSecondsPerToken * fetchedTokens;
    }

    /**
     * Learns from one batch that took {@code observedSeconds} of its instance's time ({@link PoolLedger} passes the
     * instance's busy span since its previous batch ended: throughput-equivalent when batches overlap in a
     * continuous-batching engine). Ignores non-finite or non-positive figures.
     */
    public void observe(Estimate e, double observedSeconds) {
        observe(e, observedSeconds, 1);
    }

    /**
     * Learns from {@code batches} batches observed together: {@code e} holds the sums of their prior parts and
     * {@code observedSeconds} the time they took together (the model is linear, so a sum is an observation like any
     * other, with less noise than its parts). Older observations decay by {@code batches} batches' worth, and the prior
     * still counts as {@value #PRIOR_WEIGHT} batch. Ignores non-finite or non-positive figures.
     */
    public void observe(Estimate e, double observedSeconds, int batches) {
        if (!(observedSeconds > 0) || Double.isInfinite(observedSeconds) || batches < 1
                || !(e.priorPrefillSeconds() + e.priorDecodeSeconds() > 0)) {
            return;
        }
        double d = batches == 1 ? decay : Math.pow(decay, batches);
        double[] x = {e.priorPrefillSeconds(), e.priorDecodeSeconds(), e.fetchedTokens()};
        for (int i = 0; i < 3; i++) {
            for (int j = 0; j < 3; j++) {
                sxx[i][j] = d * sxx[i][j] + x[i] * x[j];
            }
            sxy[i] = d * sxy[i] + x[i] * observedSeconds;
            sx[i] = d * sx[i] + x[i];
        }
        sw = d * sw + 1;
        sb = d * sb + batches;
        observations += batches;
        fit();
    }

    /**
     * Learns from one batch's prefill: {@code observedSeconds} from the moment its instance's engine could start on it
     * (the batch arrived, or the prefill sent before it ended) to the first token of its last sequence, against
     * {@code priorPrefillSeconds}, the prior's prefill of the batch's uncached prompt tokens as predicted when it was
     * sent (including the decode steps that share its iterations). Moves {@link #prefillLatencyScale()} only. Ignores
     * non-finite or non-positive figures.
     */
    public void observePrefill(double priorPrefillSeconds, double observedSeconds) {
        if (!(observedSeconds > 0) || Double.isInfinite(observedSeconds) || !(priorPrefillSeconds > 0)
                || Double.isInfinite(priorPrefillSeconds)) {
            return;
        }
        pxx = decay * pxx + priorPrefillSeconds * priorPrefillSeconds;
        pxy = decay * pxy + priorPrefillSeconds * observedSeconds;
        pw = decay * pw + 1;
        prefillObservations++;
        double ridge = PRIOR_WEIGHT * pxx / pw; // one mean observation's worth, toward 1
        prefillLatencyScale = clamp((pxy + ridge) / (pxx + ridge));
    }

    private void fit() {
        // ridge toward the prior, each penalty in seconds² of the coefficient's contribution to a mean batch
        double[] mean = {sx[0] / sw, sx[1] / sw, sx[2] / sw};
        double[] target = {1, 1, fetchPrior};
        double[][] m = new double[3][4];
        for (int i = 0; i < 3; i++) {
            for (int j = 0; j < 3; j++) {
                m[i][j] = sxx[i][j];
            }
            // worth PRIOR_WEIGHT batches whatever the grouping: an observation of k batches weighs about k² times one
            // batch's in sxx, and its mean is k times one batch's
            double ridge = PRIOR_WEIGHT * mean[i] * mean[i] * sw / sb;
            if (ridge == 0) {
                ridge = 1e-12; // a regressor never seen (no fetched tokens): keep its prior
            }
            m[i][i] += ridge;
            m[i][3] = sxy[i] + ridge * target[i];
        }
        double[] theta = solve(m);
        if (theta == null) {
            return;
        }
        prefillScale = clamp(theta[0]);
        decodeScale = clamp(theta[1]);
        fetchSecondsPerToken = Math.max(0, theta[2]);
    }

    /** Gaussian elimination with partial pivoting on an n × (n+1) augmented matrix; null if singular. */
    private static double[] solve(double[][] m) {
        int n = m.length;
        for (int col = 0; col < n; col++) {
            int pivot = col;
            for (int r = col + 1; r < n; r++) {
                if (Math.abs(m[r][col]) > Math.abs(m[pivot][col])) {
                    pivot = r;
                }
            }
            if (Math.abs(m[pivot][col]) < 1e-300) {
                return null;
            }
            double[] t = m[col];
            m[col] = m[pivot];
            m[pivot] = t;
            for (int r = 0; r < n; r++) {
                if (r != col) {
                    double f = m[r][col] / m[col][col];
                    for (int c = col; c <= n; c++) {
                        m[r][c] -= f * m[col][c];
                    }
                }
            }
        }
        double[] out = new double[n];
        for (int i = 0; i < n; i++) {
            out[i] = m[i][n] / m[i][i];
            if (!Double.isFinite(out[i])) {
                return null;
            }
        }
        return out;
    }

    private static double clamp(double v) {
        return Math.max(MIN_SCALE, Math.min(MAX_SCALE, v));
    }

    /** Observed prefill time ÷ the prior's (1 before any batch). */
    public double prefillScale() {
        return prefillScale;
    }

    /** Observed decode time ÷ the prior's (1 before any batch). */
    public double decodeScale() {
        return decodeScale;
    }

    /**
     * The calibrated ÷ the prior's time of the pool's recent mean batch (the observations' decayed mean; 1 before any):
     * how much slower or faster than configured the pool runs the work it gets, however the fit splits that between
     * prefill and decode (which batches of one workload often cannot tell apart).
     */
    public double overallScale() {
        if (sw == 0) {
            return 1;
        }
        double prefill = sx[0] / sw;
        double decode = sx[1] / sw;
        double fetched = sx[2] / sw;
        double prior = prefill + decode + fetchPrior * fetched;
        return prior > 0 ? seconds(prefill, decode, fetched) / prior : 1;
    }

    /** Learned KV-fetch cost, seconds per cached prompt token read. */
    public double fetchSecondsPerToken() {
        return fetchSecondsPerToken;
    }

    /** Batches observed so far. */
    public long observations() {
        return observations;
    }

    /** Batch prefills observed so far ({@link #observePrefill}). */
    public long prefillObservations() {
        return prefillObservations;
    }

    /**
     * Observed ÷ predicted time to a batch's first tokens (the prior's prefill, stretched by the decode steps in flight;
     * 1 before any {@link #observePrefill}): how much later than the roofline says the pool's prompts are prefilled.
     */
    public double prefillLatencyScale() {
        return prefillLatencyScale;
    }

    public int halfLifeBatches() {
        return halfLifeBatches;
    }

    /** The configured (prior) model. */
    public ServiceTimeModel prior() {
        return prior;
    }
}
