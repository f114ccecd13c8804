"""territorium.data"""
