// Plain Java, no Android imports: compiled and tested on any JDK (see build.sh for the
// Gradle-free build that CI runs).
plugins {
    `java-library`
}

tasks.withType<JavaCompile>().configureEach {
    // the Java 8 library surface, which every supported Android (minSdk 26) has: built
    // against a newer JDK, ByteBuffer.position(int) would bind to the Java 9 override that
    // API 26-28 lack. build.sh does the same and checks the bytecode (check_bytecode.sh).
    options.release.set(8)
}

dependencies {
    testImplementation(libs.junit)
}
