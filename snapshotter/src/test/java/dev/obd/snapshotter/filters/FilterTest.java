package dev.obd.snapshotter.filters;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class FilterTest {
  /** An object with containerd's snapshot field paths: name, parent, kind, labels.*. */
  private static final Map<String, String> LABELS =
      Map.of(
          "containerd.io/snapshot.ref", "sha256:abc",
          "l", "2",
          "with space", "v v",
          "dotted.key", "x");

  private static boolean matches(String... filters) {
    return Filter.parseAny(List.of(filters))
        .matches(
            path ->
                switch (path.get(0)) {
                  case "name" -> "k8s.io/12/sha256:abc";
                  case "parent" -> "";
                  case "kind" -> "committed";
                  case "labels" -> LABELS.get(String.join(".", path.subList(1, path.size())));
                  default -> null;
                });
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "",
        "name",
        "name==k8s.io/12/sha256:abc",
        "name==\"k8s.io/12/sha256:abc\"",
        "kind==committed",
        "kind!=active",
        "parent==\"\"",
        "parent",
        "labels.l==2",
        "labels.l",
        "labels.\"containerd.io/snapshot.ref\"==sha256:abc",
        "labels.\"containerd.io/snapshot.ref\"==sha256:abc,parent==\"\"",
        "labels.\"with space\"==\"v v\"",
        "labels.dotted.key==x",
        "labels.missing!=x",
        "name~=^k8s\\.io/",
        "name~=/sha256:[a-f]+$/",
        "name~=|12|",
        "  name == k8s.io/12/sha256:abc,kind == committed",
        "labels.\"\\x6c\"==2",
        "labels.l==\"\\062\"",
      })
  void matchesWhatContainerdMatches(String filter) {
    assertThat(matches(filter)).as(filter).isTrue();
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "name==other",
        "kind==active",
        "parent!=\"\"",
        "labels.missing",
        "labels.l==2,kind==view",
        "name~=^docker",
        "labels.\"containerd.io/snapshot.ref\"==sha256:abd",
      })
  void rejectsWhatContainerdRejects(String filter) {
    assertThat(matches(filter)).as(filter).isFalse();
  }

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {
        "kind==view|name==k8s.io/12/sha256:abc|true",
        "kind==view|kind==active|false",
      })
  void severalFiltersMatchWhenAnyDoes(String a, String b, boolean expected) {
    assertThat(matches(a, b)).isEqualTo(expected);
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "labels.",
        "name==",
        "labels.missing==",
        "name=",
        "kind===active",
        "name==\"unterminated",
        "name~=[",
        ",",
        "name,",
        "name==a b",
        "name==a , kind==committed",
        "labels.\"x\"==/slashes need ~=/",
        "/field/==x",
        "name==\"bad \\q escape\"",
        "name==\"\\u12\"",
      })
  void malformedFiltersAreSyntaxErrorsThatPointAtTheProblem(String filter) {
    assertThatThrownBy(() -> matches(filter))
        .isInstanceOf(FilterSyntaxException.class)
        .hasMessageStartingWith("filters: parse error: [");
  }

  @ParameterizedTest
  @CsvSource(
      delimiter = '#',
      value = {
        "\"plain\"#plain",
        "\"tab\\there\"#tab\there",
        "\"quote\\\"inside\"#quote\"inside",
        "/re\\/gex/#re/gex",
        "|pipe\\|d|#pipe|d",
        "\"\\u00e9t\\u00e9\"#été",
        "\"\\xc3\\xa9\"#é",
        "\"\\101\"#A",
      })
  void quotedLiteralsUseGoEscapes(String quoted, String value) {
    assertThat(Unquoter.unquote(quoted)).isEqualTo(value);
  }
}
