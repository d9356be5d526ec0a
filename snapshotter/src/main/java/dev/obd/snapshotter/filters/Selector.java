package dev.obd.snapshotter.filters;

import java.util.List;
import java.util.regex.Pattern;

/**
 * One {@code fieldpath [operator value]} term of a filter. As in containerd, {@code !=} is true for
 * an absent field unless the value compared against is empty, and {@code ~=} searches the value
 * (absent counts as empty) for the regular expression anywhere.
 */
record Selector(List<String> fieldPath, Operator operator, String value, Pattern pattern)
    implements Filter {

  enum Operator {
    PRESENT,
    EQUAL,
    NOT_EQUAL,
    MATCHES
  }

  @Override
  public boolean matches(FieldLookup lookup) {
    String actual = lookup.apply(fieldPath);
    return switch (operator) {
      case PRESENT -> actual != null;
      case EQUAL -> actual != null && actual.equals(value);
      case NOT_EQUAL -> !(actual == null ? "" : actual).equals(value);
      case MATCHES -> pattern.matcher(actual == null ? "" : actual).find();
    };
  }
}
