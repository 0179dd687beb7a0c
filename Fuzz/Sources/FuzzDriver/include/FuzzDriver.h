// libFuzzer's driver entry point (compiler-rt's FuzzerInterface.h): the fuzz targets' main hands control to it.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*UserCb)(const uint8_t *Data, size_t Size));
