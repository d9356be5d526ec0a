package dev.obd.snapshotter;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

/** The package rules of STYLE.md: packages follow the data flow and never form cycles. */
class ArchitectureTest {
  private static final JavaClasses CLASSES =
      new ClassFileImporter()
          .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
          .importPackages("dev.obd.snapshotter");

  @Test
  void packagesFormNoCycles() {
    slices().matching("dev.obd.snapshotter.(*)..").should().beFreeOfCycles().check(CLASSES);
  }

  @Test
  void lowerLayersNeverImportUpperOnes() {
    noClasses()
        .that()
        .resideInAnyPackage("..storage..", "..filters..", "..fs..", "..errdefs..", "..config..")
        .should()
        .dependOnClassesThat()
        .resideInAnyPackage("..api..", "..daemon..", "..overlay..")
        .check(CLASSES);
    noClasses()
        .that()
        .resideInAnyPackage("..snapshots..")
        .should()
        .dependOnClassesThat()
        .resideInAnyPackage("..storage..", "..overlay..", "..api..", "..daemon..")
        .because("snapshots is the contract every implementation and the API build on")
        .check(CLASSES);
    noClasses()
        .that()
        .resideInAnyPackage("..snapshots..", "..overlay..", "..storage..")
        .should()
        .dependOnClassesThat()
        .resideInAnyPackage("io.grpc..", "dev.obd.proto..")
        .because("only the api package speaks gRPC and protobuf")
        .check(CLASSES);
  }
}
