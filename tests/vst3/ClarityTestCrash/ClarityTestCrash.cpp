// ClarityTestCrash: parameter `mode` (integer 0..2):
//   0 = pass-through, 1 = abort() in run() (SIGABRT), 2 = hang forever in run().
// Only run() misbehaves, so loading the plugin and setting `mode` is safe;
// the first process() call after setting mode=1/2 is not.
#include "DistrhoPlugin.hpp"

#include <cstdlib>
#include <cstring>
#include <unistd.h>

START_NAMESPACE_DISTRHO

class ClarityTestCrash : public Plugin
{
public:
    ClarityTestCrash() : Plugin(1, 0, 0), fMode(0) {}

protected:
    const char* getLabel() const override { return "ClarityTestCrash"; }
    const char* getDescription() const override { return "clarity-fx test plugin: abort/hang on demand"; }
    const char* getMaker() const override { return "clarity-fx"; }
    const char* getLicense() const override { return "ISC"; }
    uint32_t getVersion() const override { return d_version(1, 0, 0); }
    int64_t getUniqueId() const override { return d_cconst('C', 't', 'C', 'r'); }

    void initParameter(uint32_t index, Parameter& p) override
    {
        if (index != 0) return;
        p.hints = kParameterIsAutomatable | kParameterIsInteger;
        p.name = "Mode";
        p.shortName = "Mode";
        p.symbol = "mode";
        p.unit = "";
        p.ranges.min = 0.0f;
        p.ranges.max = 2.0f;
        p.ranges.def = 0.0f;
    }

    float getParameterValue(uint32_t index) const override
    {
        return index == 0 ? static_cast<float>(fMode) : 0.0f;
    }

    void setParameterValue(uint32_t index, float value) override
    {
        if (index != 0) return;
        fMode = static_cast<int>(value + 0.5f);
    }

    void run(const float** inputs, float** outputs, uint32_t frames) override
    {
        if (fMode == 1)
            std::abort();
        if (fMode == 2)
            for (;;)
                usleep(100000);

        for (uint32_t c = 0; c < 2; ++c)
            if (outputs[c] != inputs[c])
                std::memmove(outputs[c], inputs[c], sizeof(float) * frames);
    }

private:
    int fMode;

    DISTRHO_DECLARE_NON_COPYABLE_WITH_LEAK_DETECTOR(ClarityTestCrash)
};

Plugin* createPlugin() { return new ClarityTestCrash(); }

END_NAMESPACE_DISTRHO
