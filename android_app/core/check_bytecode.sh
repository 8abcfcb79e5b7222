#!/usr/bin/env bash
# Fail when compiled classes call Java 9+ library methods that Android 8-9 (API 26-28, inside
# the app's minSdk 26) does not have, or were compiled for a class file newer than Java 8.
#
#   android_app/core/check_bytecode.sh CLASSES_DIR...
#
# Why a bytecode check besides `javac --release 8`: the failure mode is invisible in source.
# `buffer.position(4)` on a ByteBuffer compiles to `ByteBuffer.position:(I)Ljava/nio/
# ByteBuffer;` (Java 9's covariant override) when built against a newer JDK, and to
# `Buffer.position:(I)Ljava/nio/Buffer;` against Java 8; only the latter links on API 26-28,
# the former throws NoSuchMethodError at run time. The list below is the Java 9+ surface
# that plain Java code reaches for most; it is a guard, not a full API diff.
set -euo pipefail
if [ "$#" -eq 0 ]; then
    echo "usage: $0 CLASSES_DIR..." >&2
    exit 2
fi
forbidden='Method java/nio/(Byte|Char|Short|Int|Long|Float|Double)Buffer\.(position|limit|mark|reset|clear|flip|rewind):\(I?\)Ljava/nio/(Byte|Char|Short|Int|Long|Float|Double)Buffer;'
forbidden+='|Method java/nio/(Byte|Char|Short|Int|Long|Float|Double)Buffer\.slice:\(II\)'
forbidden+='|Method java/util/(List|Set|Map)\.(of|copyOf|ofEntries|entry):'
forbidden+='|Method java/lang/String\.(isBlank|strip|stripLeading|stripTrailing|lines|repeat|indent|transform|formatted):'
forbidden+='|Method java/io/InputStream\.(readAllBytes|readNBytes|transferTo|nullInputStream):'
forbidden+='|Method java/util/Optional\.(isEmpty|stream|ifPresentOrElse|or|orElseThrow:\(\))'
forbidden+='|Method java/util/Objects\.(requireNonNullElse|requireNonNullElseGet|checkIndex):'
forbidden+='|Method java/nio/file/Files\.(readString|writeString|mismatch):'
forbidden+='|Method java/util/stream/Stream\.(toList|takeWhile|dropWhile|ofNullable|iterate:\(Ljava/lang/Object;Ljava/util/function/Predicate)'
forbidden+='|java/lang/StackWalker|java/lang/ProcessHandle|java/lang/Runtime\$Version'

mapfile -t classes < <(find "$@" -name '*.class' | sort)
if [ "${#classes[@]}" -eq 0 ]; then
    echo "bytecode check: no classes under $*" >&2
    exit 2
fi
status=0
found=()
# one javap for every class: -v prints the class file version and the constant pool (every
# method a class calls is a Methodref there)
report="$(javap -v -p "${classes[@]}")"
current=""
while IFS= read -r line; do
    case "$line" in
        Classfile\ *) current="${line#Classfile }" ;;
        *"major version: "*)
            major="${line##*major version: }"
            if [ "$major" -gt 52 ]; then
                echo "bytecode check: $current is class file version $major (Java 8 is 52)"
                status=1
            fi
            ;;
        *)
            if [[ "$line" =~ $forbidden ]]; then
                found+=("bytecode check: $(basename "$current"): Java 9+ only call: ${BASH_REMATCH[0]}")
            fi
            ;;
    esac
done <<< "$report"
if [ "${#found[@]}" -gt 0 ]; then
    # each call shows twice (constant pool and code): name it once
    printf '%s\n' "${found[@]}" | sort -u
    status=1
fi
if [ "$status" -eq 0 ]; then
    echo "bytecode check: ${#classes[@]} classes, Java 8 class files, no Java 9+ only calls"
fi
exit "$status"
