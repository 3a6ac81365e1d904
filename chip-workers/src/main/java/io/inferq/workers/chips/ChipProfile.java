package io.inferq.workers.chips;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Published figures of one accelerator kind, as shipped in the chip catalogue. One "chip" is one
 * device an engine addresses as a unit (a card; for the BI-V150, the dual-device card as a whole).
 *
 * <p>Units: memory in GB of 10<sup>9</sup> bytes (vendors' "80 GB" HBM is in fact GiB, so every
 * capacity computed from it is conservative by about 7 %), bandwidth in TB/s of 10<sup>12</sup>
 * bytes/s, compute in dense TFLOPS/TOPS.
 *
 * @param id                     catalogue id, e.g. {@code ascend-910b}
 * @param name                   display name, e.g. {@code Huawei Ascend 910B}
 * @param vendor                 vendor display name
 * @param family                 chip family slug ({@code nvidia}, {@code huawei-ascend}, ...): KV bytes made on
 *                               one family are never served to another
 * @param memoryGb               device memory
 * @param bandwidthTbps          memory bandwidth
 * @param bf16Tflops             dense BF16/FP16 throughput
 * @param int8Tops               dense INT8 throughput, or null when no figure is known
 * @param fp8Tflops              dense FP8 throughput, or null when the chip has no FP8 (or none is known): such
 *                               chips are assumed unable to run FP8 weights natively
 * @param interconnect           chip-to-chip link, for information
 * @param engine                 engines known to serve this chip
 * @param openAiCompatibleEngine whether one of those engines speaks the OpenAI HTTP protocol
 * @param source                 where the figures come from
 */
public record ChipProfile(String id, String name, String vendor, String family, ChipFigure memoryGb,
        ChipFigure bandwidthTbps, ChipFigure bf16Tflops, ChipFigure int8Tops, ChipFigure fp8Tflops,
        String interconnect, String engine, boolean openAiCompatibleEngine, String source) {

    public ChipProfile {
        requireText(id, "id");
        requireText(name, "name of chip " + id);
        requireText(vendor, "vendor of chip " + id);
        requireText(family, "family of chip " + id);
        Objects.requireNonNull(memoryGb, () -> "chip " + id + ": memoryGb must be set");
        Objects.requireNonNull(bandwidthTbps, () -> "chip " + id + ": bandwidthTbps must be set");
        Objects.requireNonNull(bf16Tflops, () -> "chip " + id + ": bf16Tflops must be set");
        interconnect = interconnect == null ? "" : interconnect;
        engine = engine == null ? "" : engine;
        source = source == null ? "" : source;
    }

    /** @return whether the chip computes in FP8 natively */
    public boolean hasFp8() {
        return fp8Tflops != null;
    }

    /** @return memory of one chip in bytes */
    public double memoryBytes() {
        return memoryGb.value() * 1e9;
    }

    /** @return memory bandwidth of one chip in bytes per second */
    public double bandwidthBytesPerSecond() {
        return bandwidthTbps.value() * 1e12;
    }

    /**
     * @return one line per figure that is not {@link FigureStatus#PUBLISHED}, e.g.
     *         {@code "Huawei Ascend 910B bandwidth 1.6 TB/s (unconfirmed: sources say 1.2-1.6 TB/s)"}
     */
    public List<String> unpublishedFigures() {
        List<String> lines = new ArrayList<>();
        describeIfUnpublished(lines, "memory", memoryGb, "GB");
        describeIfUnpublished(lines, "bandwidth", bandwidthTbps, "TB/s");
        describeIfUnpublished(lines, "BF16", bf16Tflops, "TFLOPS");
        describeIfUnpublished(lines, "INT8", int8Tops, "TOPS");
        describeIfUnpublished(lines, "FP8", fp8Tflops, "TFLOPS");
        return List.copyOf(lines);
    }

    private void describeIfUnpublished(List<String> lines, String what, ChipFigure figure, String unit) {
        if (figure != null && !figure.isPublished()) {
            String text = figure.toString();
            int paren = text.indexOf(' ');
            lines.add(name + " " + what + " " + text.substring(0, paren) + " " + unit + text.substring(paren));
        }
    }

    private static void requireText(String value, String what) {
        if (value == null || value.isBlank()) {
            throw new IllegalArgumentException("chip " + what + " must not be blank");
        }
    }
}
