package dev.obd.backstore;

import static com.tngtech.archunit.base.DescribedPredicate.not;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideInAPackage;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideInAnyPackage;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

/**
 * The backstore's package rules as docs/ARCHITECTURE.md states them ("Package rules"): packages
 * follow the data flow and never form cycles; the data plane never imports the daemon's surface
 * (control API, daemon, command line); {@code nbd} serves any disk and {@code attach} knows only
 * {@code nbd}; the control server knows only the API's types.
 */
class ArchitectureTest {
  private static final JavaClasses CLASSES =
      new ClassFileImporter()
          .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
          .importPackages("dev.obd.backstore");

  @Test
  void packagesFormNoCycles() {
    slices().matching("dev.obd.backstore.(*)..").should().beFreeOfCycles().check(CLASSES);
  }

  @Test
  void theDataPlaneNeverImportsTheDaemonsSurface() {
    noClasses()
        .that()
        .resideInAnyPackage(
            "dev.obd.backstore.nbd..",
            "dev.obd.backstore.attach..",
            "dev.obd.backstore.device..",
            "dev.obd.backstore.prefetch..",
            "dev.obd.backstore.config..")
        .should()
        .dependOnClassesThat()
        .resideInAnyPackage(
            "dev.obd.backstore.control..", "dev.obd.backstore.daemon..", "dev.obd.backstore.cli..")
        .because("the data plane serves obdctl's nbd command as well as the daemon")
        .check(CLASSES);
  }

  @Test
  void nbdServesAnyDiskAndAttachKnowsOnlyNbd() {
    noClasses()
        .that()
        .resideInAPackage("dev.obd.backstore.nbd..")
        .should()
        .dependOnClassesThat(
            resideInAPackage("dev.obd.backstore..")
                .and(not(resideInAPackage("dev.obd.backstore.nbd.."))))
        .because("the NBD server serves any VirtualDisk of the image module")
        .check(CLASSES);
    noClasses()
        .that()
        .resideInAPackage("dev.obd.backstore.attach..")
        .should()
        .dependOnClassesThat(
            resideInAPackage("dev.obd.backstore..")
                .and(
                    not(
                        resideInAnyPackage(
                            "dev.obd.backstore.attach..", "dev.obd.backstore.nbd.."))))
        .because("an attacher makes an NBD server's export a kernel block device, nothing more")
        .check(CLASSES);
  }

  @Test
  void theControlServerKnowsOnlyTheApiTypes() {
    noClasses()
        .that()
        .resideInAPackage("dev.obd.backstore.control..")
        .should()
        .dependOnClassesThat(
            resideInAPackage("dev.obd.backstore..")
                .and(
                    not(
                        resideInAnyPackage(
                            "dev.obd.backstore.control..", "dev.obd.backstore.api.."))))
        .because("it reaches the devices only through ControlServer.Backend, which the daemon is")
        .check(CLASSES);
  }
}
