package dev.obd.snapshotter.filters;

import java.util.List;
import java.util.function.Function;

/**
 * A parsed containerd filter: a predicate over any object that can answer "what is the value at
 * this field path?". Immutable and thread-safe.
 */
public interface Filter {

  /**
   * Looks up a field path such as {@code ["labels", "containerd.io/snapshot.ref"]} and returns its
   * value, or {@code null} when the object has no such field.
   */
  interface FieldLookup extends Function<List<String>, String> {}

  /** Matches everything: the filter of an empty list of filter strings. */
  Filter ALWAYS = lookup -> true;

  boolean matches(FieldLookup lookup);

  /**
   * Parses containerd filter strings; the result matches an object when any of them does.
   *
   * @throws FilterSyntaxException naming the position of the first syntax error
   */
  static Filter parseAny(List<String> filters) {
    if (filters.isEmpty()) {
      return ALWAYS;
    }
    List<Filter> parsed = filters.stream().map(FilterParser::parse).toList();
    return lookup -> {
      for (Filter f : parsed) {
        if (f.matches(lookup)) {
          return true;
        }
      }
      return false;
    };
  }
}
