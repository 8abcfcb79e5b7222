#!/usr/bin/env bash
# Compile the app's pure-Java `core` module and its JUnit 4 tests with the JDK alone (no
# Gradle, no Android SDK) and run them. Output ends with "N passed, M failed"; the exit
# status is non-zero when anything failed or did not compile.
#
#   android_app/core/build.sh            # build into <repo>/java-build and run the tests
#   JAVA_BUILD_DIR=/tmp/jb android_app/core/build.sh
#
# JUnit 4 and Hamcrest come from Debian's `junit4` package (/usr/share/java); JUNIT_JAR and
# HAMCREST_JAR override the paths.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${JAVA_BUILD_DIR:-$root/java-build}"

first_existing() {
    for f in "$@"; do
        if [ -f "$f" ]; then echo "$f"; return 0; fi
    done
    return 1
}

junit="${JUNIT_JAR:-$(first_existing /usr/share/java/junit4.jar /usr/share/java/junit4-4.13.2.jar || true)}"
hamcrest="${HAMCREST_JAR:-$(first_existing /usr/share/java/hamcrest-core.jar /usr/share/java/hamcrest.jar || true)}"
if [ -z "$junit" ] || [ -z "$hamcrest" ]; then
    echo "JUnit 4 not found (install Debian's junit4: apt-get install -y junit4, or set JUNIT_JAR and HAMCREST_JAR)" >&2
    echo "0 passed, 1 failed"
    exit 2
fi
for tool in javac java; do
    if ! command -v "$tool" >/dev/null; then
        echo "$tool not found (install a JDK 11+: apt-get install -y default-jdk-headless)" >&2
        echo "0 passed, 1 failed"
        exit 2
    fi
done

rm -rf "$out/main" "$out/test"
mkdir -p "$out/main" "$out/test"
# --release 11: the module must stay within what Android's desugaring accepts
mapfile -t main_src < <(find "$here/src/main/java" -name '*.java' | sort)
mapfile -t test_src < <(find "$here/src/test/java" -name '*.java' | sort)
if ! javac --release 11 -Xlint:all -Werror -encoding UTF-8 -d "$out/main" "${main_src[@]}" \
    || ! javac --release 11 -Xlint:all,-serial -encoding UTF-8 -cp "$out/main:$junit" \
        -d "$out/test" "${test_src[@]}"; then
    echo "0 passed, 1 failed (compilation)"
    exit 1
fi
cp -R "$here/src/test/resources/." "$out/test/"

classes=()
for f in "${test_src[@]}"; do
    name="$(basename "$f" .java)"
    case "$name" in
        *Test) classes+=("org.handlite.core.$name") ;;
    esac
done
exec java -cp "$out/main:$out/test:$junit:$hamcrest" org.handlite.core.RunTests "${classes[@]}"
