package dev.obd.snapshotter.filters;

/** A filter string that is not valid in containerd's filter language. */
public final class FilterSyntaxException extends IllegalArgumentException {
  private static final long serialVersionUID = 1L;

  FilterSyntaxException(String input, int pos, String message) {
    super("filters: parse error: " + locate(input, pos) + ": " + message);
  }

  /** Marks the offending character the way containerd does: {@code [before >|x|< after]}. */
  private static String locate(String input, int pos) {
    if (pos < input.length()) {
      int end = input.offsetByCodePoints(pos, 1);
      return "["
          + input.substring(0, pos)
          + " >|"
          + input.substring(pos, end)
          + "|< "
          + input.substring(end)
          + "]";
    }
    return "[" + input + "]";
  }
}
