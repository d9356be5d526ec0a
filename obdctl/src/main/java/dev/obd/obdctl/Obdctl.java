package dev.obd.obdctl;

import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.Spec;

/**
 * {@code obdctl}: inspect, extract, commit and convert OverlayBD layers and images.
 *
 * <p>Subcommands are listed once, in the {@code subcommands} attribute below; adding one (e.g. an
 * {@code nbd} command from another module) is one more class in that list.
 */
@Command(
    name = "obdctl",
    mixinStandardHelpOptions = true,
    versionProvider = Obdctl.Version.class,
    description = "Inspect, extract, commit and convert OverlayBD layers and images.",
    subcommands = {
      InspectCommand.class,
      ExtractCommand.class,
      CommitCommand.class,
      ConvertCommand.class,
      dev.obd.backstore.cli.NbdCommand.class,
      CommandLine.HelpCommand.class
    })
public final class Obdctl implements Runnable {
  @Spec CommandSpec spec;

  @Option(
      names = "--debug",
      scope = ScopeType.INHERIT,
      description = "Print stack traces of errors.")
  boolean debug;

  @Override
  public void run() {
    throw new CommandLine.ParameterException(spec.commandLine(), "missing a subcommand");
  }

  public static void main(String[] args) {
    System.exit(
        execute(new PrintWriter(System.out, true), new PrintWriter(System.err, true), args));
  }

  /** Runs obdctl with the given streams; returns the exit code (0 = success). */
  public static int execute(PrintWriter out, PrintWriter err, String... args) {
    CommandLine cl = new CommandLine(new Obdctl());
    cl.setOut(out);
    cl.setErr(err);
    cl.setExecutionExceptionHandler(
        (ex, commandLine, parseResult) -> {
          err.println("obdctl " + commandLine.getCommandName() + ": " + describe(ex));
          if (parseResult.matchedOption("--debug") != null
              || (parseResult.subcommand() != null
                  && parseResult.subcommand().matchedOption("--debug") != null)) {
            ex.printStackTrace(err);
          }
          err.flush();
          return 1;
        });
    int code = cl.execute(args);
    out.flush();
    err.flush();
    return code;
  }

  private static String describe(Exception ex) {
    String m = ex.getMessage();
    if (ex instanceof java.io.IOException || ex instanceof IllegalArgumentException) {
      return m == null ? ex.getClass().getSimpleName() : m;
    }
    return ex.getClass().getSimpleName() + (m == null ? "" : ": " + m);
  }

  /** The version from the jar manifest (the Maven project version). */
  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      String v = Obdctl.class.getPackage().getImplementationVersion();
      return new String[] {"obdctl " + (v == null ? "(development build)" : v)};
    }
  }
}
