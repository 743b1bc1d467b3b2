/* newlib's struct mallinfo and mallinfo(). */
#pragma once
#include <stddef.h>
struct mallinfo {
    size_t arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost;
};
struct mallinfo mallinfo(void);
