"""Codes the synthetic world writes into its claims (CCW style: ICD codes without the dot).

These describe the simulated world, not the pipeline's definitions: the pipeline reads its own
code lists from config/codes/, and tests check that those find exactly what the world planted.
"""

import numpy as np

ICD10_START = np.datetime64("2015-10-01")

EVENT_ICD10 = {
    "mi": ["I214", "I219", "I2109", "I2119", "I2129", "I213", "I220"],
    "stroke": ["I639", "I6350", "I634", "I619", "I609", "I6330"],
    "tia": ["G459", "G458", "G450"],
}
EVENT_ICD9 = {
    "mi": ["41071", "41091", "41041", "41011"],
    "stroke": ["43491", "43311", "436", "431", "430"],
    "tia": ["4359", "4358"],
}
# background diagnoses (ICD-10, ICD-9 pairs); include decoys near the event codes:
# I252/412 old MI, G454/4379 transient global amnesia and other, I10 hypertension.
BACKGROUND_ICD10 = np.array(["J189", "I509", "J441", "N390", "A419", "S72001A", "I4891", "E119",
                             "I10", "E785", "I252", "G454", "M1990", "K219", "R079", "I2510"])
BACKGROUND_ICD9 = np.array(["486", "4280", "49121", "5990", "0389", "8208", "42731", "25000",
                            "4019", "2724", "412", "4379", "71590", "53081", "78650", "41401"])
OTHER_REV = np.array(["0300", "0320", "0510", "0250", "0730", "0360"])
ED_REV = np.array(["0450", "0451", "0452", "0456", "0459", "0981"])
ED_REV_P = np.array([0.80, 0.05, 0.04, 0.03, 0.03, 0.05])
ED_HCPCS = np.array(["99283", "99284", "99285"])
OTHER_OP_HCPCS = np.array(["80053", "71046", "93005", "36415", "G0463", "85025"])
OFFICE_NEW = np.array(["99203", "99204", "99205"])
OFFICE_EST = np.array(["99212", "99213", "99214", "99215"])
OFFICE_EST_P = np.array([0.10, 0.45, 0.40, 0.05])
OTHER_CARRIER_HCPCS = np.array(["80053", "93000", "71046", "36415", "G0439", "99232", "78452", "93306"])

# Drugs: generic name, class, strength (mg); intensity for statins (ACC/AHA 2013 definitions)
STATINS = [("atorvastatin", 10, "moderate"), ("atorvastatin", 20, "moderate"),
           ("atorvastatin", 40, "high"), ("atorvastatin", 80, "high"),
           ("simvastatin", 20, "moderate"), ("simvastatin", 40, "moderate"),
           ("rosuvastatin", 10, "moderate"), ("rosuvastatin", 20, "high"),
           ("pravastatin", 40, "moderate")]
ANTIHYPERTENSIVES = [("lisinopril", 10, "ace_inhibitor"), ("lisinopril", 20, "ace_inhibitor"),
                     ("losartan", 50, "arb"), ("losartan", 100, "arb"),
                     ("amlodipine", 5, "calcium_channel_blocker"),
                     ("amlodipine", 10, "calcium_channel_blocker"),
                     ("hydrochlorothiazide", 25, "thiazide"), ("chlorthalidone", 25, "thiazide"),
                     ("metoprolol succinate", 50, "beta_blocker")]
