package io.inferq.workers.chips;

/** How model weights are stored in device memory. */
public enum WeightPrecision {
    FP8(1),
    INT8(1),
    BF16(2);

    private final int bytesPerParam;

    WeightPrecision(int bytesPerParam) {
        this.bytesPerParam = bytesPerParam;
    }

    public int bytesPerParam() {
        return bytesPerParam;
    }

    /**
     * The precision a model is served in on a chip unless a pool says otherwise.
     *
     * <p>Assumption: an FP8 checkpoint on a chip without FP8 (A800, Ascend, most domestic chips) is
     * served as BF16 — twice the memory and bytes read per step. This is what an upcasting engine does;
     * engines that quantise to INT8 instead (MindIE W8A8) can be modelled by a pool setting
     * {@code weightPrecision: INT8} explicitly.
     */
    public static WeightPrecision servedOn(ModelProfile model, ChipProfile chip) {
        if (model.weightPrecision() == FP8 && !chip.hasFp8()) {
            return BF16;
        }
        return model.weightPrecision();
    }
}
