// Plain Java, no Android imports: compiled and tested on any JDK (see build.sh for the
// Gradle-free build that CI runs).
plugins {
    `java-library`
}

java {
    // what Android's desugaring accepts; build.sh compiles with --release 11 too
    sourceCompatibility = JavaVersion.VERSION_11
    targetCompatibility = JavaVersion.VERSION_11
}

dependencies {
    testImplementation(libs.junit)
}
