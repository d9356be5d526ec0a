package dev.obd.image.convert;

import java.util.function.Consumer;

/**
 * What a conversion reports as it goes: each finished step as a line ({@link #accept}), and the
 * step under way as a status that the next status or line replaces, for a display on a terminal
 * that redraws it in place (downloading so many MiB of a layer, applying it, committing it).
 */
public interface ConvertProgress extends Consumer<String> {
  /** The step under way; ignored unless the display can redraw a line. */
  default void status(String text) {}

  /** {@code lines} as progress that has no status display. */
  static ConvertProgress of(Consumer<String> lines) {
    return lines instanceof ConvertProgress p ? p : lines::accept;
  }
}
