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
        sourceCompatibility = JavaVersion.VERSION_11
        targetCompatibility = JavaVersion.VERSION_11
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
    implementation(libs.litert.support)
    implementation(libs.camerax.core)
    implementation(libs.camerax.camera2)
    implementation(libs.camerax.lifecycle)
    implementation(libs.camerax.view)
    implementation(libs.androidx.appcompat)
}
