package io.inferq.server;

import io.inferq.ingress.api.ServedModel;
import io.inferq.server.config.ConfigException;
import io.inferq.server.config.InferqConfig;
import io.inferq.workers.backend.OpenAiHttpSettings;
import io.inferq.workers.chips.ChipCatalogue;
import io.inferq.workers.chips.ModelCatalogue;
import io.inferq.workers.chips.ModelProfile;
import io.inferq.workers.chips.RooflineAssumptions;
import io.inferq.workers.pool.BackendSpec;
import io.inferq.workers.pool.PoolLimits;
import io.inferq.workers.pool.PoolPlan;
import io.inferq.workers.pool.PoolSpec;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The configured pools resolved against the built-in chip and model catalogues, and the models they serve. */
final class PoolPlans {
    private PoolPlans() {
    }

    static List<PoolPlan> resolve(InferqConfig config) {
        ChipCatalogue chips = ChipCatalogue.builtIn();
        ModelCatalogue models = ModelCatalogue.builtIn();
        List<PoolPlan> plans = new ArrayList<>();
        for (InferqConfig.PoolSetting p : config.pools()) {
            BackendSpec backend = "simulated".equals(p.backend()) ? new BackendSpec.Simulated()
                    : httpBackend(p);
            PoolSpec spec = new PoolSpec(p.id(), p.chip(), p.chipsPerInstance(), p.instances(), p.model(), backend,
                    new PoolLimits(p.maxBatchTokens(), p.maxConcurrentSequences()), p.timeScale(), 0.9, null, 0);
            try {
                plans.add(PoolPlan.resolve(spec, chips, models, new RooflineAssumptions(RooflineAssumptions.DEFAULT_MFU,
                        RooflineAssumptions.DEFAULT_MBU, RooflineAssumptions.DEFAULT_MEMORY_UTILISATION,
                        config.kvCache().networkGbps() * 1e9 / 8)));
            } catch (IllegalArgumentException e) {
                throw new ConfigException("pools[" + p.id() + "]: " + e.getMessage(), e);
            }
        }
        return plans;
    }

    private static BackendSpec httpBackend(InferqConfig.PoolSetting p) {
        List<java.net.URI> urls = new ArrayList<>();
        for (String u : p.baseUrls()) {
            try {
                urls.add(new java.net.URI(u));
            } catch (java.net.URISyntaxException e) {
                throw new ConfigException("pools[" + p.id() + "].base-urls: '" + u + "' is not a URL: " + e.getReason(), e);
            }
        }
        OpenAiHttpSettings s = OpenAiHttpSettings.of(urls, p.engineModel() == null ? p.model() : p.engineModel());
        if (p.requestTimeoutMs() != null) {
            s = s.withTimeouts(s.connectTimeout(), java.time.Duration.ofMillis(p.requestTimeoutMs()), s.idleTimeout());
        }
        if (Boolean.TRUE.equals(p.enginePriority())) {
            s = s.withSendPriority(true);
        }
        return new BackendSpec.OpenAiHttp(s);
    }

    static List<ServedModel> servedModels(List<PoolPlan> plans) {
        Map<String, List<String>> pools = new LinkedHashMap<>();
        Map<String, ModelProfile> profiles = new LinkedHashMap<>();
        Map<String, Integer> promptBudget = new LinkedHashMap<>();
        for (PoolPlan p : plans) {
            promptBudget.merge(p.spec().model(), p.spec().limits().maxBatchTokens(), Math::max);
            pools.computeIfAbsent(p.spec().model(), k -> new ArrayList<>())
                    .add(p.spec().id() + " (" + p.spec().instances() + " × " + p.spec().chipsPerInstance() + " " + p.chip().name()
                            + ", " + p.spec().backend().kind() + ")");
            profiles.put(p.spec().model(), p.model());
        }
        List<ServedModel> out = new ArrayList<>();
        pools.forEach((model, list) -> {
            ModelProfile mp = profiles.get(model);
            int ctx = mp.maxContextTokens();
            out.add(new ServedModel(model, "deepseek-ai", ctx, Math.min(32_768, ctx / 2), promptBudget.get(model), list));
        });
        return out;
    }
}
