// OpenBLAS's CBLAS header (Debian: libopenblas-dev installs it as <cblas.h> through alternatives).
#include <cblas.h>
