plugins {
    alias(libs.plugins.android.application)
}

android {
    namespace = "org.handlite.app"
    compileSdk = 35

    defaultConfig {
        applicationId = "org.handlite.app"
        // 26: java.nio.file (the core module's metadata reader and atomic result writes)
        minSdk = 26
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
    }

    buildTypes {
        release {
            isMinifyEnabled = false
        }
    }

    compileOptions {
        // the Java level core/build.sh (CI) compiles and bytecode-checks the app at
        sourceCompatibility = JavaVersion.VERSION_1_8
        targetCompatibility = JavaVersion.VERSION_1_8
    }

    sourceSets {
        // the app's JVM tests read the golden tiny model from the core module's resources
        getByName("test").resources.srcDir("../core/src/test/resources")
    }

    androidResources {
        // models are memory-mapped straight from the APK
        noCompress += "tflite"
    }
}

dependencies {
    implementation(project(":core"))
    implementation(libs.litert)
    implementation(libs.litert.gpu)
    implementation(libs.camerax.core)
    implementation(libs.camerax.camera2)
    implementation(libs.camerax.lifecycle)
    implementation(libs.camerax.view)
    implementation(libs.androidx.appcompat)
    // BenchmarkJobTest: the Activity's job on the JVM (also run by core/build.sh, against
    // the API stubs); on a JVM LiteRT throws UnsatisfiedLinkError, which must become a record
    testImplementation(libs.junit)
}
