/* harvest/profile.c: being written. */
#include "harvest.h"
