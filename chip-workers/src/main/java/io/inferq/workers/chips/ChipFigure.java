package io.inferq.workers.chips;

import java.util.Objects;

/**
 * One figure of a chip profile, with how far it can be trusted.
 *
 * @param value  the figure, in the unit named by the profile component holding it; positive
 * @param status where it comes from
 * @param note   qualification or, for {@link FigureStatus#ASSUMED}, how the value was derived; may be empty
 */
public record ChipFigure(double value, FigureStatus status, String note) {
    public ChipFigure {
        if (!(value > 0) || Double.isInfinite(value)) {
            throw new IllegalArgumentException("figure value must be positive and finite, was " + value);
        }
        Objects.requireNonNull(status, "figure status must be set");
        note = note == null ? "" : note;
    }

    /** @return a published figure without a note */
    public static ChipFigure published(double value) {
        return new ChipFigure(value, FigureStatus.PUBLISHED, "");
    }

    /** @return whether the figure comes from a primary source */
    public boolean isPublished() {
        return status == FigureStatus.PUBLISHED;
    }

    @Override
    public String toString() {
        return status == FigureStatus.PUBLISHED ? formatValue()
                : formatValue() + " (" + status.name().toLowerCase(java.util.Locale.ROOT)
                        + (note.isEmpty() ? "" : ": " + note) + ")";
    }

    private String formatValue() {
        return value == Math.rint(value) ? Long.toString((long) value) : Double.toString(value);
    }
}
