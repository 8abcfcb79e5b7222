package org.handlite.core;

import java.util.ArrayList;
import java.util.List;
import org.junit.runner.JUnitCore;
import org.junit.runner.Result;
import org.junit.runner.notification.Failure;

/**
 * Runs the given JUnit 4 test classes and ends with one line "N passed, M failed" (what
 * `make java-test` and CI read); exits 1 when anything failed.
 */
public final class RunTests {
    private RunTests() {}

    public static void main(String[] args) throws ClassNotFoundException {
        List<Class<?>> classes = new ArrayList<>();
        for (String name : args) {
            classes.add(Class.forName(name));
        }
        if (classes.isEmpty()) {
            System.out.println("0 passed, 1 failed (no test classes given)");
            System.exit(1);
        }
        Result result = new JUnitCore().run(classes.toArray(new Class<?>[0]));
        for (Failure f : result.getFailures()) {
            System.out.println("FAIL " + f.getTestHeader() + ": " + f.getException());
            // only our own frames: JUnit's reflection stack says nothing about the failure
            for (StackTraceElement e : f.getException().getStackTrace()) {
                if (e.getClassName().startsWith("org.handlite.") && !e.getClassName().endsWith("RunTests")) {
                    System.out.println("    at " + e);
                }
            }
        }
        int failed = result.getFailureCount();
        int passed = result.getRunCount() - failed;
        System.out.println(classes.size() + " test classes, " + result.getIgnoreCount()
                + " ignored, " + (result.getRunTime() / 1000.0) + " s");
        System.out.println(passed + " passed, " + failed + " failed");
        System.exit(failed == 0 && result.getRunCount() > 0 ? 0 : 1);
    }
}
