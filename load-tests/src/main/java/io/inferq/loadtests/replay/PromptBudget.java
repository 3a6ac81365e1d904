package io.inferq.loadtests.replay;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The largest prompt the target fleet can run for one model: the largest {@code max-batch-tokens} of the pools
 * serving it (the dispatcher never puts a prompt into a batch above its pool's budget, and fails a job no pool can
 * take with {@code not_runnable}). Known for an in-process server (from the configuration it was started with) or
 * when given with {@code --prompt-budget}; unknown for a server reached by URL only. Immutable.
 *
 * @param model          the model requests name
 * @param maxPromptTokens the largest budget, in server-counted prompt tokens; 0 = no pool serves the model;
 *                        {@link Integer#MAX_VALUE} = unknown
 * @param poolBudgets    pool id → its {@code max-batch-tokens}, for pools serving the model (empty when unknown)
 * @param source         where the figure comes from, for the report
 */
public record PromptBudget(String model, int maxPromptTokens, Map<String, Integer> poolBudgets, String source) {

    /** What to do with a request whose prompt is above the budget. */
    public enum OverBudget {
        /** Send it unchanged: the server fails it ({@code not_runnable}); counted as a failure with its reason. */
        SEND,
        /** Do not send it; counted as {@code skipped_over_budget}. */
        SKIP,
        /** Shorten its prompt to the budget; counted as {@code clamped_to_budget}. */
        CLAMP;

        /** @throws IllegalArgumentException naming the flag */
        public static OverBudget parse(String v) {
            return switch (v) {
                case "send" -> SEND;
                case "skip" -> SKIP;
                case "clamp" -> CLAMP;
                default -> throw new IllegalArgumentException("--over-budget must be send, skip or clamp, was '" + v + "'");
            };
        }

        public String flagValue() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    public PromptBudget {
        poolBudgets = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(poolBudgets));
    }

    /** @param why why it is unknown, for the report */
    public static PromptBudget unknown(String model, String why) {
        return new PromptBudget(model, Integer.MAX_VALUE, Map.of(), why);
    }

    public static PromptBudget fixed(String model, int tokens) {
        return new PromptBudget(model, tokens, Map.of(), "--prompt-budget");
    }

    /** From a configuration's {@code pools} array ({@code model}, {@code id}, {@code max-batch-tokens} of each). */
    public static PromptBudget ofPools(String model, JsonNode pools, String source) {
        Map<String, Integer> budgets = new LinkedHashMap<>();
        for (JsonNode p : pools) {
            if (model.equals(p.path("model").asText())) {
                budgets.put(p.path("id").asText(), p.path("max-batch-tokens").asInt());
            }
        }
        int max = budgets.values().stream().mapToInt(Integer::intValue).max().orElse(0);
        return new PromptBudget(model, max, budgets, source);
    }

    public boolean known() {
        return maxPromptTokens != Integer.MAX_VALUE;
    }

    /** Whether a prompt of {@code words} words (as {@link PromptText} builds it) is above the budget as the server counts it. */
    public boolean exceededBy(int words) {
        return known() && (long) words + PromptText.TEMPLATE_TOKENS > maxPromptTokens;
    }

    /** The most words a prompt may have to fit (at least 1). */
    public int maxWords() {
        return Math.max(1, maxPromptTokens - PromptText.TEMPLATE_TOKENS);
    }

    /** A summary of the budget for {@code summary.json}. */
    public Map<String, Object> describe() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model", model);
        m.put("max_prompt_tokens", known() ? maxPromptTokens : null);
        m.put("pools", new LinkedHashMap<>(poolBudgets));
        m.put("source", source);
        return m;
    }

    /**
     * Checks what {@code plan} would send (prompts as {@link Replayer} shapes them): how many prompts are above the
     * budget and, when pools have different budgets, how many only the bigger pools can take.
     */
    public Check check(ReplayPlan plan) {
        int over = 0;
        int overSmallest = 0;
        int smallest = poolBudgets.values().stream().mapToInt(Integer::intValue).min().orElse(maxPromptTokens);
        int largestWords = 0;
        for (ReplayPlan.Item it : plan.items()) {
            int words = Replayer.promptWords(it.request(), model);
            largestWords = Math.max(largestWords, words);
            if (exceededBy(words)) {
                over++;
            } else if (known() && (long) words + PromptText.TEMPLATE_TOKENS > smallest) {
                overSmallest++;
            }
        }
        return new Check(plan.items().size(), over, smallest, overSmallest, largestWords + PromptText.TEMPLATE_TOKENS);
    }

    /**
     * @param planned         requests in the plan
     * @param overBudget      of them, prompts above the largest pool budget (no pool can run them)
     * @param smallestBudget  the smallest budget of a pool serving the model
     * @param onlyBiggerPools prompts within the largest budget but above the smallest (only some pools can run them)
     * @param largestPrompt   the largest prompt of the plan, in server-counted tokens
     */
    public record Check(int planned, int overBudget, int smallestBudget, int onlyBiggerPools, int largestPrompt) {
    }

    /** The up-front lines a replay prints about the budget. */
    public List<String> explain(Check c, OverBudget action) {
        if (!known()) {
            return List.of(String.format(Locale.ROOT, "prompt budget of the target fleet for %s: %s; largest prompt of the plan %d tokens",
                    model, source, c.largestPrompt()));
        }
        if (maxPromptTokens == 0) {
            return List.of("WARNING: no pool of the target fleet serves model " + model + ": every request will be refused or fail");
        }
        String pools = poolBudgets.isEmpty() ? "" : " (pools " + poolBudgets + ")";
        String head = String.format(Locale.ROOT, "prompt budget for %s: %d tokens%s, from %s; largest prompt of the plan %d tokens",
                model, maxPromptTokens, pools, source, c.largestPrompt());
        List<String> lines = new java.util.ArrayList<>(List.of(head));
        if (c.onlyBiggerPools() > 0) {
            lines.add(String.format(Locale.ROOT,
                    "note: %d requests have prompts above the smallest pool budget (%d tokens): only the bigger pools can run them",
                    c.onlyBiggerPools(), c.smallestBudget()));
        }
        if (c.overBudget() == 0) {
            return lines;
        }
        String what = switch (action) {
            case SEND -> "they are sent unchanged and will fail with not_runnable (counted under failures_by_error_code); "
                    + "--over-budget skip leaves them out, --over-budget clamp shortens them to the budget";
            case SKIP -> "--over-budget skip: they are not sent (counted as skipped_over_budget)";
            case CLAMP -> "--over-budget clamp: their prompts are shortened to " + maxPromptTokens
                    + " tokens (counted as clamped_to_budget)";
        };
        lines.add(String.format(Locale.ROOT, "WARNING: %d of %d requests have prompts above the largest pool budget %d for model %s: %s",
                c.overBudget(), c.planned(), maxPromptTokens, model, what));
        return lines;
    }
}
