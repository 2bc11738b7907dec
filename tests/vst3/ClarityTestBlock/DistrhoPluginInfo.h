// ClarityTestBlock: an effect whose output depends on the host's block size.
#ifndef DISTRHO_PLUGIN_INFO_H_INCLUDED
#define DISTRHO_PLUGIN_INFO_H_INCLUDED

#define DISTRHO_PLUGIN_BRAND   "clarity-fx"
#define DISTRHO_PLUGIN_NAME    "ClarityTestBlock"
#define DISTRHO_PLUGIN_URI     "urn:clarity-fx:tests:ClarityTestBlock"

#define DISTRHO_PLUGIN_NUM_INPUTS   2
#define DISTRHO_PLUGIN_NUM_OUTPUTS  2
#define DISTRHO_PLUGIN_HAS_UI       0
#define DISTRHO_PLUGIN_IS_RT_SAFE   1
#define DISTRHO_PLUGIN_WANT_LATENCY 0
#define DISTRHO_PLUGIN_VST3_CATEGORIES "Fx|Modulation"

#endif
