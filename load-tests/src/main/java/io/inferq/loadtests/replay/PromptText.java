package io.inferq.loadtests.replay;

import java.util.List;
import java.util.SplittableRandom;

/**
 * Rebuilds a prompt whose prefix sharing matches a trace's block ids: every {@value #BLOCK_TOKENS}-token block
 * id maps deterministically to the same text of {@value #BLOCK_TOKENS} words drawn from a PRNG seeded by the
 * id (and a salt), so equal ids give equal text and — since Mooncake's ids are chained — two prompts share
 * exactly the prefix their ids share. Tokens beyond the ids (a trace without ids, e.g. Azure) come from a
 * PRNG seeded by the request, so they are shared with nobody.
 *
 * <p>Each word is a short common English word that o200k tokenises as one token with its leading space,
 * and is about 4 characters long with it, so both the tokenizer and the ingress' chars÷4 estimate see about
 * one token per word. Stateless and thread-safe.
 */
public final class PromptText {
    public static final int BLOCK_TOKENS = 512;
    /**
     * Tokens the chat template adds around one user message: the server (o200k, chat template with the generation
     * prompt) counts a prompt of n words as n + this many tokens (checked by the smoke tests).
     */
    public static final int TEMPLATE_TOKENS = 22;

    private static final String[] WORDS = (
            "the and for you not are but can all was one has her his how man new now old see two way who boy did its "
            + "let put say she too use day get may any big end far few got own run set top yes yet air ask bad bed "
            + "box car cut dog eat eye fly fun hot job key law leg lot low map mix oil pay red row sea sit sky sun "
            + "tax tea war win age arm art bag bit bus buy cat cup dry egg fit gas hat ice kid lay lie lip mad mom "
            + "net nor odd pen pet pop pot raw rid sad sat six son sum ten tie toy via wet wide wine wing wire wise "
            + "wish with wood word work year your zero able area army away baby back ball band bank base bear beat "
            + "best bill bird blue boat body bone book born both bowl busy call calm camp card care case cash cell "
            + "city club coat cold come cook cool copy core cost crew dark data date dead deal dear deep door down "
            + "draw drop duty each east easy edge else even ever face fact fair fall farm fast fear feel file fill "
            + "film find fine fire firm fish five flat food foot form four free from full game gave gift girl give "
            + "glad goal gold gone good gray grow hair half hall hand hard head hear heat held help here high hill "
            + "hold hole home hope hour huge idea into iron item join jump just keep kind king know lack lady lake "
            + "land last late lead left less life lift like line list live load long look lord lose loss love luck "
            + "made mail main make many mark mass meal mean meet mind miss mode moon more most move much must name "
            + "near neck need news next nice nine none nose note once only open over page pain pair park part pass "
            + "past path pick plan play plus poor port post pull pure push race rain rate read real rest rich ride "
            + "ring rise risk road rock role roof room root rose rule safe sale salt same sand save seat seed seek "
            + "seem sell send ship shop shot show shut side sign site size skin slow snow soft soil sold sole song "
            + "soon sort soul spot star stay step stop such suit sure take talk tall task team tell term test text "
            + "than that them then they thin this thus time tiny told tone took tool tour town tree trip true turn "
            + "type unit upon used user vast very view vote wait wake walk wall want warm wash wave weak wear week").split(" ");

    private PromptText() {
    }

    /**
     * @param inputTokens the trace's prompt length
     * @param blockIds    the trace's 512-token block ids (may be empty)
     * @param salt        mixed into every block's seed: 0 for the trace as recorded; a load-overlay copy uses
     *                    its own salt so copies do not share each other's prefixes
     * @param requestSeed seeds the tokens not covered by {@code blockIds}
     */
    public static String build(int inputTokens, List<Long> blockIds, long salt, long requestSeed) {
        StringBuilder sb = new StringBuilder(inputTokens * 5);
        int remaining = inputTokens;
        for (int b = 0; remaining > 0; b++) {
            int n = Math.min(BLOCK_TOKENS, remaining);
            long seed = b < blockIds.size() ? mix(blockIds.get(b) ^ mix(salt + 0x51)) : mix(requestSeed * 0x9E3779B97F4A7C15L + b + 1);
            SplittableRandom r = new SplittableRandom(seed);
            for (int i = 0; i < n; i++) {
                sb.append(' ').append(WORDS[r.nextInt(WORDS.length)]);
            }
            remaining -= n;
        }
        return sb.toString();
    }

    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
