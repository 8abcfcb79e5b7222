package android.os;

public class Build {
    // not constants: the real values are read on the device at run time
    public static final String MODEL = value();
    public static final String HARDWARE = value();
    /** API 31 */
    public static final String SOC_MODEL = value();
    public static final String[] SUPPORTED_ABIS = new String[0];

    public static class VERSION {
        public static final int SDK_INT = number();
        public static final String RELEASE = value();
    }

    private static String value() {
        return null;
    }

    private static int number() {
        return 0;
    }
}
