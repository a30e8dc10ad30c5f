/* harvest/extract.c: being written. */
#include "harvest.h"
