/* harvest/provenance.c: being written. */
#include "harvest.h"
