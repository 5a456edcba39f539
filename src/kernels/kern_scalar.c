/* The kernels in portable C (no ISA flags): the fallback, and the path the tests compare. */
#define SL_KERN_TABLE sl__kern_scalar
#define SL_KERN_NAME "scalar"
#include "body.h"
