/* trig_values: reads doubles (C99 hex floats, one per line) from stdin and prints the drawing's
 * sine and cosine of each (src/trig.c, an internal function the shared library does not
 * export) as hex floats, for tests/check_trig.py. */
#include <stdio.h>

void sl__sincos(double x, double *s, double *c);

int main(void)
{
    double x;
    while (scanf("%la", &x) == 1) {
        double s, c;
        sl__sincos(x, &s, &c);
        printf("%a %a\n", s, c);
    }
    return 0;
}
