package dev.obd.snapshotter.filters;

import dev.obd.snapshotter.filters.FilterScanner.Kind;
import dev.obd.snapshotter.filters.FilterScanner.Token;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Parses one filter string of containerd's filter language:
 *
 * <pre>
 * selectors := selector ("," selector)*
 * selector  := fieldpath (operator value)?
 * fieldpath := field ("." field)*
 * field     := quoted | [A-Za-z0-9_-]+
 * operator  := "==" | "!=" | "~="
 * value     := quoted | [^\s,]+
 * </pre>
 *
 * All selectors of one string must match. Regular expressions are compiled here, so an invalid one
 * is a syntax error rather than (as in containerd) a silent non-match.
 */
final class FilterParser {
  private final String input;
  private final FilterScanner scanner;

  private FilterParser(String input) {
    this.input = input;
    this.scanner = new FilterScanner(input);
  }

  static Filter parse(String input) {
    if (input.isEmpty()) {
      return Filter.ALWAYS;
    }
    return new FilterParser(input).selectors();
  }

  private Filter selectors() {
    List<Filter> all = new ArrayList<>();
    all.add(selector());
    while (true) {
      int next = scanner.peek();
      if (next == ',') {
        scanner.scan();
        all.add(selector());
      } else if (next == FilterScanner.EOF) {
        break;
      } else {
        Token t = scanner.scan();
        throw error(t.pos(), "unexpected input: " + t.text());
      }
    }
    List<Filter> selectors = List.copyOf(all);
    return lookup -> {
      for (Filter f : selectors) {
        if (!f.matches(lookup)) {
          return false;
        }
      }
      return true;
    };
  }

  private Selector selector() {
    List<String> path = fieldPath();
    int next = scanner.peek();
    if (next == ',' || next == FilterScanner.EOF) {
      return new Selector(path, Selector.Operator.PRESENT, null, null);
    }
    Selector.Operator op = operator();
    String value = value(op == Selector.Operator.MATCHES);
    Pattern pattern = null;
    if (op == Selector.Operator.MATCHES) {
      try {
        pattern = Pattern.compile(value);
      } catch (PatternSyntaxException e) {
        throw error(
            input.length(), "invalid regular expression " + value + ": " + e.getDescription());
      }
    }
    return new Selector(path, op, value, pattern);
  }

  private List<String> fieldPath() {
    List<String> path = new ArrayList<>();
    path.add(field());
    while (scanner.peek() == '.') {
      scanner.scan();
      path.add(field());
    }
    return List.copyOf(path);
  }

  private String field() {
    Token t = scanner.scan();
    return switch (t.kind()) {
      case FIELD -> t.text();
      case QUOTED -> unquote(t, false);
      case ILLEGAL -> throw error(t.pos(), scanner.error());
      default -> throw error(t.pos(), "expected field or quoted");
    };
  }

  private Selector.Operator operator() {
    Token t = scanner.scan();
    if (t.kind() == Kind.OPERATOR) {
      return switch (t.text()) {
        case "==" -> Selector.Operator.EQUAL;
        case "!=" -> Selector.Operator.NOT_EQUAL;
        case "~=" -> Selector.Operator.MATCHES;
        default -> throw error(t.pos(), "unsupported operator \"" + t.text() + "\"");
      };
    }
    if (t.kind() == Kind.ILLEGAL) {
      throw error(t.pos(), scanner.error());
    }
    throw error(t.pos(), "expected an operator (\"==\"|\"!=\"|\"~=\")");
  }

  private String value(boolean allowAlternativeQuotes) {
    Token t = scanner.scan();
    return switch (t.kind()) {
      case VALUE, FIELD -> t.text();
      case QUOTED -> unquote(t, allowAlternativeQuotes);
      case ILLEGAL -> throw error(t.pos(), scanner.error());
      case EOF -> throw error(t.pos(), "unexpected end of filter: expected value or quoted");
      default -> throw error(t.pos(), "expected value or quoted");
    };
  }

  private String unquote(Token t, boolean allowAlternativeQuotes) {
    if (!allowAlternativeQuotes && t.text().charAt(0) != '"') {
      throw error(t.pos(), "invalid quote encountered");
    }
    try {
      return Unquoter.unquote(t.text());
    } catch (IllegalArgumentException e) {
      throw error(t.pos(), "unquoting failed: " + e.getMessage());
    }
  }

  private FilterSyntaxException error(int pos, String message) {
    return new FilterSyntaxException(input, pos, message);
  }
}
